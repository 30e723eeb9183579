//! Provider payloads in each provider's real format, as the generator
//! sends them: the same shapes as `fixtures/providers/`.

use chrono::{DateTime, Utc};
use chrono_tz::Africa::Nairobi;
use rust_decimal::Decimal;
use serde_json::{json, Value};

/// What a generated payment carries, before it takes a provider's shape.
#[derive(Clone, Debug)]
pub(super) struct Spec {
    pub(super) txn_id: String,
    pub(super) amount: Decimal,
    pub(super) currency: &'static str,
    pub(super) paid_at: DateTime<Utc>,
    pub(super) reference: String,
    pub(super) phone: Option<String>,
    pub(super) first: String,
    pub(super) middle: String,
    pub(super) last: String,
}

fn eat(t: DateTime<Utc>) -> String {
    t.with_timezone(&Nairobi).format("%Y%m%d%H%M%S").to_string()
}

/// An envelope line.
pub(super) fn envelope(provider: &str, received_at: DateTime<Utc>, payload: Value) -> String {
    json!({"provider": provider, "received_at": received_at, "payload": payload}).to_string()
}

/// Daraja C2B confirmation.
pub(super) fn mpesa_c2b(s: &Spec, msisdn: &str) -> Value {
    json!({
        "TransactionType": "Pay Bill", "TransID": s.txn_id, "TransTime": eat(s.paid_at),
        "TransAmount": format!("{:.2}", s.amount), "BusinessShortCode": "600638",
        "BillRefNumber": s.reference, "InvoiceNumber": "", "OrgAccountBalance": "49197.00",
        "ThirdPartyTransID": "", "MSISDN": msisdn,
        "FirstName": s.first, "MiddleName": s.middle, "LastName": s.last
    })
}

/// Daraja STK push callback; `result_code` ≠ 0 is a failed request.
pub(super) fn mpesa_stk(s: &Spec, checkout: &str, result_code: i64) -> Value {
    if result_code != 0 {
        return json!({"Body": {"stkCallback": {
            "MerchantRequestID": "29115-34620561-1", "CheckoutRequestID": checkout,
            "ResultCode": result_code, "ResultDesc": "Request cancelled by user"}}});
    }
    let phone: u64 = s.phone.as_deref().and_then(|p| p.parse().ok()).unwrap_or(0);
    let amount: Value = serde_json::from_str(&format!("{:.2}", s.amount)).unwrap_or(Value::Null);
    let date: u64 = eat(s.paid_at).parse().unwrap_or(0);
    json!({"Body": {"stkCallback": {
        "MerchantRequestID": "29115-34620561-1", "CheckoutRequestID": checkout,
        "ResultCode": 0, "ResultDesc": "The service request is processed successfully.",
        "CallbackMetadata": {"Item": [
            {"Name": "Amount", "Value": amount},
            {"Name": "MpesaReceiptNumber", "Value": s.txn_id},
            {"Name": "Balance"},
            {"Name": "TransactionDate", "Value": date},
            {"Name": "PhoneNumber", "Value": phone}]}}}})
}

/// MTN MoMo request-to-pay result.
pub(super) fn mtn_momo(s: &Spec, external_id: &str, failed: bool) -> Value {
    let mut v = json!({
        "financialTransactionId": s.txn_id, "externalId": external_id,
        "amount": s.amount.to_string(), "currency": s.currency,
        "payer": {"partyIdType": "MSISDN", "partyId": s.phone.clone().unwrap_or_default()},
        "payerMessage": s.reference, "payeeNote": "Internet subscription", "status": "SUCCESSFUL"
    });
    if failed {
        v["status"] = json!("FAILED");
        v["reason"] = json!("LOW_BALANCE_OR_PAYEE_LIMIT_REACHED_OR_NOT_ALLOWED");
        if let Some(o) = v.as_object_mut() {
            o.remove("financialTransactionId");
        }
    }
    v
}

/// Airtel Money callback, enriched with amount and msisdn.
pub(super) fn airtel_money(s: &Spec, request_id: &str) -> Value {
    let national = s
        .phone
        .as_deref()
        .map(|p| p.trim_start_matches("256").to_string())
        .unwrap_or_default();
    json!({"transaction": {
        "id": request_id,
        "message": format!("Paid {} {} to PAYMATCH ISP Charge {} 0, Trans ID {}.", s.currency, s.amount, s.currency, s.txn_id),
        "status_code": "TS", "airtel_money_id": s.txn_id,
        "amount": s.amount.to_string(), "currency": s.currency, "msisdn": national}})
}

/// A Stripe event around an object.
pub(super) fn stripe_event(kind: &str, created: DateTime<Utc>, object: Value) -> Value {
    json!({"id": format!("evt_{}", created.timestamp()), "object": "event", "api_version": "2024-06-20",
           "created": created.timestamp(), "type": kind, "data": {"object": object}, "livemode": false})
}

/// A PaymentIntent.
pub(super) fn stripe_payment_intent(
    s: &Spec,
    customer: &str,
    account: &str,
    failed: bool,
) -> Value {
    let minor = (s.amount * Decimal::new(100, 0)).trunc().to_string();
    let minor: i64 = minor.parse().unwrap_or(0);
    let mut pi = json!({
        "id": s.txn_id, "object": "payment_intent", "amount": minor, "amount_received": minor,
        "currency": s.currency.to_ascii_lowercase(), "customer": customer, "created": s.paid_at.timestamp(),
        "description": "Internet subscription", "metadata": {"account_number": account},
        "status": "succeeded", "latest_charge": format!("ch_{}", &s.txn_id[3..]),
        "shipping": {"name": format!("{} {}", s.first, s.last), "phone": s.phone}
    });
    if failed {
        pi["status"] = json!("requires_payment_method");
        pi["amount_received"] = json!(0);
        pi["last_payment_error"] =
            json!({"code": "card_declined", "message": "Your card was declined."});
    }
    pi
}

/// An Invoice paid through a PaymentIntent.
pub(super) fn stripe_invoice(s: &Spec, customer: &str, pi: &str) -> Value {
    let minor: i64 = (s.amount * Decimal::new(100, 0))
        .trunc()
        .to_string()
        .parse()
        .unwrap_or(0);
    json!({"id": format!("in_{}", &pi[3..]), "object": "invoice", "customer": customer, "amount_paid": minor,
           "currency": s.currency.to_ascii_lowercase(), "payment_intent": pi, "status": "paid",
           "status_transitions": {"paid_at": s.paid_at.timestamp()}, "customer_name": format!("{} {}", s.first, s.last)})
}

/// A refunded Charge with its refund.
pub(super) fn stripe_refund(pi: &str, refund_id: &str, amount: Decimal, currency: &str) -> Value {
    let minor: i64 = (amount * Decimal::new(100, 0))
        .trunc()
        .to_string()
        .parse()
        .unwrap_or(0);
    json!({"id": format!("ch_{}", &pi[3..]), "object": "charge", "amount": minor, "amount_refunded": minor,
           "currency": currency.to_ascii_lowercase(), "payment_intent": pi, "refunded": true,
           "refunds": {"object": "list", "data": [{"id": refund_id, "object": "refund", "amount": minor,
                        "currency": currency.to_ascii_lowercase(), "payment_intent": pi, "status": "succeeded"}]}})
}

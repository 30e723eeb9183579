//! The generated world: customers with phones, services and invoices, and
//! the noise functions that turn a customer's reference into what a payer
//! actually types.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use model::reference::canonical;
use model::{Currency, Customer, CustomerStatus, Invoice, InvoiceStatus, Service};
use rand::seq::IndexedRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;

use super::names::{FIRST, LAST};

/// A customer with what the generator needs to pay as them.
#[derive(Clone, Debug)]
pub(super) struct Payer {
    pub(super) customer: Customer,
    pub(super) invoices: Vec<Invoice>,
    pub(super) owed: Decimal,
    pub(super) first: String,
    pub(super) middle: String,
    pub(super) last: String,
    /// Primary phone, E.164 digits.
    pub(super) phone: String,
}

impl Payer {
    pub(super) fn customer_id(&self) -> &str {
        &self.customer.customer_id
    }
    pub(super) fn account(&self) -> &str {
        self.customer
            .account_number
            .as_deref()
            .unwrap_or(&self.customer.customer_id)
    }
    pub(super) fn invoice_number(&self) -> Option<String> {
        self.invoices
            .iter()
            .find(|i| i.status == InvoiceStatus::Open)
            .and_then(|i| i.number.clone())
    }
    pub(super) fn currency_code(&self) -> &'static str {
        if self.customer.currency == Currency::UGX {
            "UGX"
        } else {
            "KES"
        }
    }
}

pub(super) struct World {
    pub(super) customers: Vec<Payer>,
    kes: Vec<usize>,
    ugx: Vec<usize>,
    stripe: Vec<usize>,
    phones: HashSet<String>,
    references: HashSet<String>,
    by_id: HashMap<String, usize>,
    account_digits: usize,
}

/// `n` in base 36, upper case, left-padded with zeros to `width`.
pub(super) fn base36(mut n: u64, width: usize) -> String {
    let digits = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut out = Vec::new();
    while n > 0 {
        out.push(digits[(n % 36) as usize]);
        n /= 36;
    }
    while out.len() < width {
        out.push(b'0');
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

fn time(s: &str) -> DateTime<Utc> {
    s.parse().unwrap_or_default()
}

fn random_digits(rng: &mut ChaCha8Rng, n: usize) -> String {
    (0..n)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

/// How a billing export writes a number: `0712…`, `+254712…` or `254712…`;
/// numbers of another country than the deployment's default (254) always
/// carry their country code, as a multi-country billing system stores them.
fn billing_notation(rng: &mut ChaCha8Rng, e164: &str) -> String {
    let national_allowed = e164.starts_with("254");
    match rng.random_range(if national_allowed { 0 } else { 1 }..3) {
        0 => format!("0{}", &e164[3..]),
        1 => format!("+{e164}"),
        _ => e164.to_string(),
    }
}

impl World {
    pub(super) fn build(rng: &mut ChaCha8Rng, n: usize) -> World {
        // Enough account digits that accounts stay sparse (about 1 in 50).
        let account_digits = ((n.max(1) * 50) as f64).log10().ceil().max(6.0) as usize;
        let mut w = World {
            customers: Vec::with_capacity(n),
            kes: Vec::new(),
            ugx: Vec::new(),
            stripe: Vec::new(),
            phones: HashSet::new(),
            references: HashSet::new(),
            by_id: HashMap::new(),
            account_digits,
        };
        let mut usernames = HashSet::new();
        let mut invoice_serial = 0u64;
        for i in 0..n {
            let ugx = rng.random_bool(0.2);
            let (currency, prefix) = if ugx {
                (Currency::UGX, "2567")
            } else {
                (
                    Currency::KES,
                    if rng.random_bool(0.8) { "2547" } else { "2541" },
                )
            };
            let phone = w.unknown_phone(rng, prefix);
            w.phones.insert(phone.clone());
            let mut msisdns = vec![billing_notation(rng, &phone)];
            if rng.random_bool(0.15) {
                let second = w.unknown_phone(rng, prefix);
                w.phones.insert(second.clone());
                msisdns.push(billing_notation(rng, &second));
            }
            let account = w.new_account(rng);
            let first = FIRST.choose(rng).copied().unwrap_or("Jane").to_string();
            let last = LAST.choose(rng).copied().unwrap_or("Doe").to_string();
            let middle = if rng.random_bool(0.5) {
                LAST.choose(rng).copied().unwrap_or("").to_string()
            } else {
                String::new()
            };
            let name = [first.as_str(), middle.as_str(), last.as_str()]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" ");
            let customer_id = format!("C{:07}", i + 1);
            let services = (0..if rng.random_bool(0.1) { 2 } else { 1 })
                .map(|k| {
                    let mut username = format!("{}.{}", first.to_lowercase(), last.to_lowercase());
                    let mut suffix = 1;
                    while !usernames.insert(username.clone())
                        || w.references.contains(&canonical(&username))
                    {
                        suffix += 1;
                        username =
                            format!("{}.{}{suffix}", first.to_lowercase(), last.to_lowercase());
                    }
                    w.references.insert(canonical(&username));
                    Service {
                        service_id: format!("S-{}-{}", i + 1, k + 1),
                        username,
                        nas_id: Some(format!("nas-{}", rng.random_range(1..5))),
                        plan: Some(
                            ["5M", "10M", "20M"]
                                .choose(rng)
                                .copied()
                                .unwrap_or("10M")
                                .to_string(),
                        ),
                    }
                })
                .collect();
            let roll: f64 = rng.random();
            let status = if roll < 0.72 {
                CustomerStatus::Active
            } else if roll < 0.95 {
                CustomerStatus::Suspended
            } else {
                CustomerStatus::Closed
            };
            let stripe_customer_id = (!ugx && rng.random_bool(0.25)).then(|| {
                format!(
                    "cus_{}",
                    base36(rng.random_range(10u64.pow(12)..10u64.pow(13)), 14)
                )
            });
            let price = if ugx {
                Decimal::new(
                    *[50_000i64, 75_000, 100_000].choose(rng).unwrap_or(&50_000),
                    0,
                )
            } else {
                Decimal::new(*[1500i64, 2500, 3500, 5000].choose(rng).unwrap_or(&2500), 0)
            };
            let mut invoices = Vec::new();
            let mut add_invoice = |issued: &str, due: &str, status: InvoiceStatus| {
                invoice_serial += 1;
                let number = format!("INV{invoice_serial:07}");
                w.references.insert(canonical(&number));
                invoices.push(Invoice {
                    invoice_id: format!("INV-2026-{invoice_serial:07}"),
                    customer_id: customer_id.clone(),
                    number: Some(number),
                    amount: price,
                    currency,
                    issued_at: time(issued),
                    due_at: Some(time(due)),
                    status,
                });
            };
            add_invoice(
                "2026-09-01T00:00:00Z",
                "2026-09-10T00:00:00Z",
                InvoiceStatus::Paid,
            );
            match status {
                CustomerStatus::Suspended => {
                    if rng.random_bool(0.4) {
                        add_invoice(
                            "2026-09-25T00:00:00Z",
                            "2026-10-05T00:00:00Z",
                            InvoiceStatus::Open,
                        );
                    }
                    add_invoice(
                        "2026-10-01T00:00:00Z",
                        "2026-10-10T00:00:00Z",
                        InvoiceStatus::Open,
                    );
                }
                CustomerStatus::Active if rng.random_bool(0.6) => add_invoice(
                    "2026-11-01T00:00:00Z",
                    "2026-11-10T00:00:00Z",
                    InvoiceStatus::Open,
                ),
                _ => {}
            }
            let owed = invoices
                .iter()
                .filter(|i| i.status == InvoiceStatus::Open)
                .map(|i| i.amount)
                .sum();
            let customer = Customer {
                customer_id: customer_id.clone(),
                account_number: Some(account),
                name,
                msisdns,
                stripe_customer_id,
                services,
                status,
                currency,
                updated_at: Some(time("2026-10-31T00:00:00Z")),
            };
            let idx = w.customers.len();
            if status != CustomerStatus::Closed {
                if ugx {
                    w.ugx.push(idx)
                } else {
                    w.kes.push(idx)
                }
                if customer.stripe_customer_id.is_some() {
                    w.stripe.push(idx);
                }
            }
            w.by_id.insert(customer_id, idx);
            w.customers.push(Payer {
                customer,
                invoices,
                owed,
                first,
                middle,
                last,
                phone,
            });
        }
        w
    }

    fn new_account(&mut self, rng: &mut ChaCha8Rng) -> String {
        loop {
            let account = format!("ACC{}", random_digits(rng, self.account_digits));
            if self.references.insert(canonical(&account)) {
                return account;
            }
        }
    }

    fn pick(&self, rng: &mut ChaCha8Rng, pool: &[usize]) -> Payer {
        let idx = pool
            .choose(rng)
            .or_else(|| self.kes.first())
            .or_else(|| self.ugx.first())
            .copied()
            .unwrap_or(0);
        self.customers[idx].clone()
    }

    pub(super) fn kes_payer(&self, rng: &mut ChaCha8Rng) -> Payer {
        self.pick(rng, &self.kes)
    }
    pub(super) fn ugx_payer(&self, rng: &mut ChaCha8Rng) -> Payer {
        self.pick(rng, &self.ugx)
    }
    pub(super) fn stripe_payer(&self, rng: &mut ChaCha8Rng) -> Payer {
        self.pick(rng, &self.stripe)
    }
    pub(super) fn stripe_id_of(&self, customer_id: &str) -> String {
        self.by_id
            .get(customer_id)
            .and_then(|i| self.customers[*i].customer.stripe_customer_id.clone())
            .unwrap_or_default()
    }

    /// An amount a payer sends: what they owe, part of it, one invoice, or
    /// their plan's price.
    pub(super) fn amount_for(&self, rng: &mut ChaCha8Rng, payer: &Payer) -> Decimal {
        let open = payer
            .invoices
            .iter()
            .find(|i| i.status == InvoiceStatus::Open);
        let roll: f64 = rng.random();
        match open {
            Some(_) if roll < 0.7 => payer.owed,
            Some(_) if roll < 0.85 => (payer.owed / Decimal::TWO).round_dp(0),
            Some(inv) => inv.amount,
            None => payer
                .invoices
                .first()
                .map_or(Decimal::new(1000, 0), |i| i.amount),
        }
    }

    /// A phone number no customer has.
    pub(super) fn unknown_phone(&self, rng: &mut ChaCha8Rng, prefix: &str) -> String {
        loop {
            let phone = format!("{prefix}{}", random_digits(rng, 12 - prefix.len()));
            if !self.phones.contains(&phone) {
                return phone;
            }
        }
    }

    /// A name that is clearly not the payer's (a relative or a friend).
    pub(super) fn other_name(&self, rng: &mut ChaCha8Rng, payer: &Payer) -> (String, String) {
        loop {
            let first = FIRST.choose(rng).copied().unwrap_or("Peter");
            let last = LAST.choose(rng).copied().unwrap_or("Otieno");
            if first != payer.first
                && last != payer.last
                && !payer.middle.eq_ignore_ascii_case(last)
            {
                return (first.to_uppercase(), last.to_uppercase());
            }
        }
    }

    /// Someone who is not a customer, with an account number nobody has.
    pub(super) fn stranger(&mut self, rng: &mut ChaCha8Rng) -> Payer {
        let mut p = self.kes_payer(rng);
        let account = loop {
            let a = format!("ACC{}", random_digits(rng, self.account_digits));
            if !self.references.contains(&canonical(&a)) {
                break a;
            }
        };
        p.customer.customer_id = String::new();
        p.customer.account_number = Some(account);
        p.phone = self.unknown_phone(rng, "2547");
        let (first, last) = self.other_name(rng, &p);
        (p.first, p.middle, p.last) = (first, String::new(), last);
        p
    }

    /// One edit or transposition of `account` that is no one's reference.
    pub(super) fn typo(&self, rng: &mut ChaCha8Rng, account: &str) -> String {
        let original = canonical(account);
        for _ in 0..100 {
            let mut chars: Vec<char> = account.chars().collect();
            let pos = rng.random_range(3..chars.len());
            match rng.random_range(0..4) {
                0 => chars[pos] = char::from(b'0' + rng.random_range(0..10u8)),
                1 if pos + 1 < chars.len() => chars.swap(pos, pos + 1),
                2 => {
                    chars.remove(pos);
                }
                _ => chars.insert(pos, char::from(b'0' + rng.random_range(0..10u8))),
            }
            let typo: String = chars.into_iter().collect();
            let c = canonical(&typo);
            if c != original
                && !self.references.contains(&c)
                && strsim::osa_distance(&c, &original) == 1
            {
                return typo;
            }
        }
        account.to_string()
    }
}

/// Case and punctuation as payers type them: `acc 123456`, `Acc-123456`.
pub(super) fn case_and_punctuation(rng: &mut ChaCha8Rng, account: &str) -> String {
    let (head, tail) = account.split_at(3);
    match rng.random_range(0..4) {
        0 => account.to_lowercase(),
        1 => format!("{} {tail}", head.to_lowercase()),
        2 => format!("{head}-{tail}"),
        _ => format!(
            " {}. {tail} ",
            &head[..1]
                .to_uppercase()
                .chars()
                .chain(head[1..].to_lowercase().chars())
                .collect::<String>()
        ),
    }
}

/// Look-alike characters (O for 0, I or l for 1) or leading zeros.
pub(super) fn lookalike(rng: &mut ChaCha8Rng, account: &str) -> String {
    let (head, tail) = account.split_at(3);
    if tail.contains(['0', '1']) && rng.random_bool(0.7) {
        let swapped: String = tail
            .chars()
            .map(|c| match c {
                '0' => 'O',
                '1' if rng.random_bool(0.5) => 'I',
                '1' => 'l',
                other => other,
            })
            .collect();
        format!("{head}{swapped}")
    } else {
        format!("{head}00{tail}")
    }
}

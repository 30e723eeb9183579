//! The in-memory sink: records what it applied, and skips repeats.

use std::collections::HashMap;

use chrono::Utc;
use model::{AccessAction, AccessCommand, AccessResult, AccessResultStatus};

use crate::{AccessSink, Result};

/// The sink's name.
pub const NAME: &str = "memory";

/// Applies commands to a map of service id → last action.
#[derive(Debug, Default)]
pub struct MemorySink {
    applied: HashMap<String, AccessAction>,
    state: HashMap<String, AccessAction>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// The last action applied to a service.
    pub fn state_of(&self, service_id: &str) -> Option<AccessAction> {
        self.state.get(service_id).copied()
    }

    /// How many distinct commands were applied.
    pub fn applied(&self) -> usize {
        self.applied.len()
    }
}

impl AccessSink for MemorySink {
    fn name(&self) -> &str {
        NAME
    }

    fn apply(&mut self, command: &AccessCommand) -> Result<AccessResult> {
        let repeat = self.applied.contains_key(&command.command_id);
        let status = if repeat {
            AccessResultStatus::Skipped
        } else {
            self.applied
                .insert(command.command_id.clone(), command.action);
            self.state
                .insert(command.service_id.clone(), command.action);
            AccessResultStatus::Applied
        };
        let detail = if repeat {
            "already applied"
        } else {
            "applied in memory"
        };
        Ok(AccessResult {
            command_id: command.command_id.clone(),
            sink: NAME.to_string(),
            status,
            detail: detail.to_string(),
            at: Utc::now(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_command_is_skipped() {
        let command = AccessCommand {
            command_id: "restore:mpesa_c2b:X:S-1".into(),
            action: AccessAction::Restore,
            customer_id: "C1".into(),
            service_id: "S-1".into(),
            username: "u".into(),
            nas_id: None,
            cause: "mpesa_c2b:X".into(),
            reason: "test".into(),
            issued_at: Utc::now(),
        };
        let mut sink = MemorySink::new();
        assert_eq!(
            sink.apply(&command).unwrap().status,
            AccessResultStatus::Applied
        );
        assert_eq!(
            sink.apply(&command).unwrap().status,
            AccessResultStatus::Skipped
        );
        assert_eq!(sink.applied(), 1);
        assert_eq!(sink.state_of("S-1"), Some(AccessAction::Restore));
    }
}

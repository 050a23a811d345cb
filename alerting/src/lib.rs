//! Alerting: rule groups, evaluation, the alert state machine and notification delivery.
//! Not implemented yet: this crate is a placeholder so that the workspace has its final shape.

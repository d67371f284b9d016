//! Amazon SNS: alert topics and their subscriptions.

pub mod topic;

//! AWS Budgets.

pub mod budget;

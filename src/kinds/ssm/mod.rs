//! AWS Systems Manager Parameter Store.

pub mod parameter;

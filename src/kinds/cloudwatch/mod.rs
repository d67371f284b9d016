//! Amazon CloudWatch: metric and composite alarms, and dashboards.

pub mod alarm;
pub mod composite;
pub mod dashboard;

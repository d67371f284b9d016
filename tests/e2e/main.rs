//! plumb's integration tests: one binary, one file per feature.

mod support;

mod budgets;
mod cache;
mod cli;
mod cloudwatch;
mod compare;
mod emulator;
mod faults;
mod fidelity;
mod fuzz;
mod git;
mod github;
mod guards;
mod iam;
mod import;
mod inputs;
mod locking;
mod render;
mod replicas;
mod scope;
mod secrets;
mod shared;
mod shipping;
mod ssm;
mod topics;
mod validate;
mod workflows;

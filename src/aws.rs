//! The edge to AWS: SDK configuration per environment, error reporting, write pacing.

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::{Region, SdkConfig};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::timeout::TimeoutConfig;
use tokio::time::Instant;

use crate::config::Environment;

/// Attempts per call unless `AWS_MAX_ATTEMPTS` says otherwise. More than the SDK's default 3:
/// plumb writes in bulk and SSM throttles early; the SDK backs off exponentially between tries.
const DEFAULT_MAX_ATTEMPTS: u32 = 8;

/// How long plumb waits for AWS, unless `PLUMB_CONNECT_TIMEOUT`, `PLUMB_ATTEMPT_TIMEOUT` or
/// `PLUMB_OPERATION_TIMEOUT` (seconds) say otherwise: an endpoint that accepts connections and
/// never answers must end in an error that names the call, not in a hang.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);
/// All attempts of one call, backoff included.
const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(300);

/// The longest timeout accepted: a day. Zero, negative, huge or unreadable values are
/// errors, never "no timeout".
const MAX_TIMEOUT_SECS: f64 = 86_400.0;

/// A setting from the environment: `None` when unset, an error when it is not UTF-8 (never
/// read as unset, which would quietly mean the default).
pub fn setting(variable: &str) -> Result<Option<String>, String> {
    match std::env::var(variable) {
        Ok(text) => Ok(Some(text)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("{variable} is not valid UTF-8")),
    }
}

fn timeout_from_env(variable: &str, default: Duration) -> Result<Duration, String> {
    let Some(text) = setting(variable)? else {
        return Ok(default);
    };
    match text.trim().parse::<f64>() {
        Ok(secs) if secs > 0.0 && secs <= MAX_TIMEOUT_SECS => Ok(Duration::from_secs_f64(secs)),
        _ => Err(format!(
            "{variable} is `{text}`: it must be a number of seconds above 0 and at most {MAX_TIMEOUT_SECS}"
        )),
    }
}

fn default_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(DEFAULT_CONNECT_TIMEOUT)
        .operation_attempt_timeout(DEFAULT_ATTEMPT_TIMEOUT)
        .operation_timeout(DEFAULT_OPERATION_TIMEOUT)
        .build()
}

/// The timeouts every AWS call of a session gets.
pub fn timeouts() -> Result<TimeoutConfig, String> {
    Ok(TimeoutConfig::builder()
        .connect_timeout(timeout_from_env(
            "PLUMB_CONNECT_TIMEOUT",
            DEFAULT_CONNECT_TIMEOUT,
        )?)
        .operation_attempt_timeout(timeout_from_env(
            "PLUMB_ATTEMPT_TIMEOUT",
            DEFAULT_ATTEMPT_TIMEOUT,
        )?)
        .operation_timeout(timeout_from_env(
            "PLUMB_OPERATION_TIMEOUT",
            DEFAULT_OPERATION_TIMEOUT,
        )?)
        .build())
}

/// Attempts per call: `AWS_MAX_ATTEMPTS` (1 to 100), or [`DEFAULT_MAX_ATTEMPTS`]. Read here
/// rather than by aws-config, which panics on `0` or a word.
fn max_attempts() -> Result<u32, String> {
    let Some(text) = setting("AWS_MAX_ATTEMPTS")? else {
        return Ok(DEFAULT_MAX_ATTEMPTS);
    };
    match text.trim().parse::<u32>() {
        Ok(n @ 1..=100) => Ok(n),
        _ => Err(format!(
            "AWS_MAX_ATTEMPTS is `{text}`: it must be a whole number from 1 to 100"
        )),
    }
}

/// Checks the AWS settings plumb reads from the environment before any session is made, so a
/// bad one is one clear error.
pub fn check_settings() -> Result<(), String> {
    timeouts()?;
    max_attempts()?;
    crate::lock::ttl()?;
    Ok(())
}

/// A failed AWS call, with what a user needs to act on it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{operation} `{resource}`: {code}: {message}")]
pub struct AwsError {
    pub operation: &'static str,
    pub resource: String,
    pub code: String,
    pub message: String,
}

impl AwsError {
    /// The error of a step of a multi-step change, saying which steps were done before it.
    pub fn after_steps(mut self, done: &[String]) -> AwsError {
        if !done.is_empty() {
            self.message = format!("{} (done before: {})", self.message, done.join(", "));
        }
        self
    }

    pub fn from_sdk<E, R>(operation: &'static str, resource: &str, error: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: Debug,
    {
        let code = match (error.code(), &error) {
            (Some(code), _) => code.to_string(),
            (None, SdkError::TimeoutError(_)) => codes::TIMEOUT.into(),
            (None, SdkError::DispatchFailure(_)) => codes::DISPATCH_FAILURE.into(),
            (None, SdkError::ResponseError(_)) => "ResponseError".into(),
            (None, _) => "Unknown".into(),
        };
        let message = match (error.message(), &error) {
            (Some(message), _) => message.to_string(),
            (None, SdkError::DispatchFailure(failure)) if failure.is_io() || failure.is_timeout() => {
                unreachable_message(&error)
            }
            (None, _) => causes(&error),
        };
        AwsError {
            operation,
            resource: resource.to_string(),
            code,
            message,
        }
    }
}

/// An error's chain of causes as one line, each said once (the SDK's own rendering ends in a
/// `Debug` dump of the whole chain).
fn causes(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !line.contains(&text) {
            line = format!("{line}: {text}");
        }
        source = cause.source();
    }
    line
}

/// What a user needs when AWS cannot be reached: where plumb tried, why it failed, how often.
fn unreachable_message(error: &dyn std::error::Error) -> String {
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .map(|url| format!("AWS at {url}"))
        .unwrap_or_else(|_| "AWS".to_string());
    let attempts = max_attempts().unwrap_or(DEFAULT_MAX_ATTEMPTS);
    let mut root = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        root = cause.to_string();
        source = cause.source();
    }
    let hint = if std::env::var_os("AWS_ENDPOINT_URL").is_some() {
        "is AWS_ENDPOINT_URL right?"
    } else {
        "is the network (or a proxy) letting plumb reach AWS?"
    };
    format!("cannot reach {endpoint} ({root}), tried up to {attempts} time(s); {hint}")
}

/// AWS's error codes that plumb acts on, in one place.
pub mod codes {
    /// IAM: the entity does not exist (yet: IAM is eventually consistent).
    pub const NO_SUCH_ENTITY: &str = "NoSuchEntity";
    pub const PARAMETER_NOT_FOUND: &str = "ParameterNotFound";
    /// Budgets: gone already.
    pub const NOT_FOUND: &str = "NotFoundException";
    /// Budgets: there already.
    pub const DUPLICATE_RECORD: &str = "DuplicateRecordException";
    /// IAM: a user, group or policy of that name exists.
    pub const ENTITY_ALREADY_EXISTS: &str = "EntityAlreadyExists";
    /// CloudWatch: a dashboard that does not exist (moto and AWS spell it differently).
    pub const RESOURCE_NOT_FOUND: [&str; 2] = ["ResourceNotFound", "ResourceNotFoundException"];
    /// SNS: the topic or subscription is gone already.
    pub const SNS_NOT_FOUND: &str = "NotFound";
    /// SSM: the parameter is there already.
    pub const PARAMETER_ALREADY_EXISTS: &str = "ParameterAlreadyExists";
    /// AWS refused the call for its rate: it was not carried out, so sending it again is
    /// safe even for a call that must not run twice.
    pub const THROTTLED: [&str; 3] = ["ThrottlingException", "Throttling", "TooManyUpdates"];
    /// plumb's codes for a call that got no answer: it timed out, or never reached AWS.
    pub const TIMEOUT: &str = "Timeout";
    pub const DISPATCH_FAILURE: &str = "DispatchFailure";
    pub const UNANSWERED: [&str; 2] = [TIMEOUT, DISPATCH_FAILURE];
    /// "A create found its object already there", per service.
    pub const ALREADY_EXISTS: [&str; 4] = [
        PARAMETER_ALREADY_EXISTS,
        ENTITY_ALREADY_EXISTS,
        DUPLICATE_RECORD,
        "ResourceAlreadyExistsException",
    ];
}

/// An SDK call's result with its error made an [`AwsError`] naming the call and the resource:
/// `client.delete_user().user_name(name).send().await.aws("DeleteUser", name)`.
pub trait SdkResult<T> {
    fn aws(self, operation: &'static str, resource: &str) -> Result<T, AwsError>;
}

impl<T, E, R> SdkResult<T> for Result<T, SdkError<E, R>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: Debug,
{
    fn aws(self, operation: &'static str, resource: &str) -> Result<T, AwsError> {
        self.map_err(|e| AwsError::from_sdk(operation, resource, e))
    }
}

/// A write whose error says its effect is already there counts as done: a call that
/// succeeded but answered 500 is retried by the SDK, and the retry finds its own work
/// (`DuplicateRecordException` for a create, `NotFoundException` for a delete); a removal
/// whose object is gone is what it wanted, so a second apply finishes the job.
pub trait DoneIf {
    fn done_if(self, codes: &[&str]) -> Result<(), AwsError>;
}

impl<T> DoneIf for Result<T, AwsError> {
    fn done_if(self, codes: &[&str]) -> Result<(), AwsError> {
        match self {
            Ok(_) => Ok(()),
            Err(error) if codes.contains(&error.code.as_str()) => Ok(()),
            Err(error) => Err(error),
        }
    }
}

/// One environment's connection to AWS: its SDK configuration and the clients and limiters
/// the kinds create from it, made once and shared.
pub struct Session {
    pub env: Environment,
    pub config: SdkConfig,
    shared: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
    account: tokio::sync::OnceCell<Result<String, AwsError>>,
    /// The account that owns what this session listed (see [`Session::note_own_arns`]).
    owner: Mutex<Owner>,
    /// Bumped by [`Session::invalidate_reads`]; kinds that keep a read for the session
    /// (IAM's snapshot) read again when it changed.
    generation: AtomicU64,
    /// The account whose value cache plan and drift may use (`crate::cache`); unset for
    /// apply, import and `--no-cache`, which read everything from AWS.
    cache_account: std::sync::OnceLock<String>,
    caches: Mutex<BTreeMap<&'static str, Arc<crate::cache::Store>>>,
}

impl Session {
    /// Configures the SDK from its standard environment (`AWS_PROFILE`, `AWS_ENDPOINT_URL`,
    /// the credential chain), with the environment's region, profile and role.
    pub async fn connect(env: &Environment) -> Session {
        // `check_settings` ran before any session: the defaults below are never reached with
        // a bad setting.
        let timeouts = timeouts().unwrap_or_else(|_| default_timeouts());
        let attempts = max_attempts().unwrap_or(DEFAULT_MAX_ATTEMPTS);
        // Adaptive: on a throttled call the SDK lowers the rate it sends at and raises it
        // again while calls go through, so that a bulk apply finds the account's write quota
        // without a setting (`ssm_put_rate` caps it when set). Same for IAM, CloudWatch,
        // Budgets and SNS writes. Each session and service paces on its own (see
        // [`Session::client`]).
        let retry = RetryConfig::adaptive()
            .with_max_attempts(attempts)
            .with_max_backoff(Duration::from_secs(20));
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(env.region.clone()))
            .timeout_config(timeouts)
            .retry_config(retry);
        if let Some(profile) = &env.profile {
            loader = loader.profile_name(profile);
        }
        let mut config = loader.load().await;
        if let Some(role) = &env.assume_role {
            let provider = aws_config::sts::AssumeRoleProvider::builder(role)
                .session_name("plumb")
                .configure(&config)
                .build()
                .await;
            config = config
                .into_builder()
                .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(
                    provider,
                ))
                .build();
        }
        Session {
            env: env.clone(),
            config,
            shared: Mutex::new(HashMap::new()),
            account: tokio::sync::OnceCell::new(),
            owner: Mutex::new(Owner::Unseen),
            generation: AtomicU64::new(0),
            cache_account: std::sync::OnceLock::new(),
            caches: Mutex::new(BTreeMap::new()),
        }
    }

    /// Lets the kinds use the local value cache of `account` (plan and drift only).
    pub fn enable_cache(&self, account: &str) {
        let _ = self.cache_account.set(account.to_string());
    }

    /// A service's value cache in this session's account and region, when enabled.
    pub fn cache(&self, service: &'static str) -> Option<Arc<crate::cache::Store>> {
        let account = self.cache_account.get()?;
        let mut caches = self.caches.lock().unwrap_or_else(|e| e.into_inner());
        let store = caches
            .entry(service)
            .or_insert_with(|| Arc::new(crate::cache::open(account, &self.env.region, service)));
        Some(store.clone())
    }

    /// Writes the caches that changed, leaving out the `secret` names.
    pub fn save_caches(&self, secret: &std::collections::BTreeSet<&str>) {
        let caches = self.caches.lock().unwrap_or_else(|e| e.into_inner());
        caches.values().for_each(|store| store.save(secret));
    }

    /// The session's client of one AWS service, made on first use.
    pub fn client<C: ServiceClient>(&self) -> C {
        self.shared(C::for_session)
    }

    /// The session's one value of type `T` (an SDK client, a limiter), made on first use.
    pub fn shared<T: Clone + Send + Sync + 'static>(&self, make: impl FnOnce(&Session) -> T) -> T {
        let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        let entry = shared
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Arc::new(make(self)));
        entry.downcast_ref::<T>().expect("keyed by its TypeId").clone()
    }

    /// Says that what was read may be out of date (apply wrote since): the next read of a
    /// kind that keeps one per session goes to AWS again.
    pub fn invalidate_reads(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// The current read generation (see [`Session::invalidate_reads`]).
    pub fn read_generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Notes the accounts in the ARNs of objects AWS listed as the caller's own (SSM lists
    /// only the caller's parameters unless asked for shared ones), so that the account guard
    /// needs no STS call once something is listed. An ARN of another account than the
    /// environment's is an error: the reading stops there, and the guard
    /// (`pipeline::check_account`) then refuses the environment.
    pub fn note_own_arns<'a>(
        &self,
        operation: &'static str,
        resource: &str,
        arns: impl IntoIterator<Item = Option<&'a str>>,
    ) -> Result<(), AwsError> {
        let Some(expected) = self.env.account_id.as_deref() else {
            return Ok(());
        };
        let mut owner = self.owner.lock().unwrap_or_else(|e| e.into_inner());
        for arn in arns.into_iter().flatten() {
            let Some(account) = arn.split(':').nth(4).filter(|a| is_account_id(a)) else {
                continue;
            };
            if account != expected && !matches!(*owner, Owner::Other(_)) {
                *owner = Owner::Other(account.to_string());
            }
            if let Owner::Other(other) = &*owner {
                return Err(AwsError {
                    operation,
                    resource: resource.to_string(),
                    code: "OtherAccount".into(),
                    message: format!(
                        "listed {arn}: the credentials are for account {other}, not the environment's {expected}"
                    ),
                });
            }
            *owner = Owner::Expected;
        }
        Ok(())
    }

    /// The account the credentials belong to as the guard sees it: the owner of what this
    /// session listed, or STS's answer when it listed nothing of its own.
    pub async fn guarded_account(&self) -> Result<String, AwsError> {
        let seen = self.owner.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match (seen, &self.env.account_id) {
            (Owner::Expected, Some(expected)) => Ok(expected.clone()),
            (Owner::Other(account), _) => Ok(account),
            _ => self.caller_account().await,
        }
    }

    /// The account the credentials belong to (STS GetCallerIdentity, asked once a session).
    pub async fn caller_account(&self) -> Result<String, AwsError> {
        let ask = || async {
            let sts = aws_sdk_sts::Client::new(&self.config);
            let identity = sts
                .get_caller_identity()
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("GetCallerIdentity", "caller", e))?;
            Ok(identity.account().unwrap_or_default().to_string())
        };
        self.account.get_or_init(ask).await.clone()
    }
}

/// What a session's listings said of the account that owns them.
#[derive(Clone, Debug)]
enum Owner {
    Unseen,
    /// Every ARN so far was in the environment's account.
    Expected,
    /// An ARN in this other account: the environment is refused, whatever came before.
    Other(String),
}

fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// An AWS service's client, as one session makes it.
pub trait ServiceClient: Clone + Send + Sync + 'static {
    fn for_session(session: &Session) -> Self;
}

/// Each client gets a retry partition of its own: the adaptive rate and the retry budget
/// (500 tokens) of one environment's SSM calls are neither another account's nor another
/// service's. The SDK's default partitions are process-wide, one per service and region, so
/// one throttled account would slow every environment in the run and could spend their
/// retries. Environments that share an account each find its quota on their own.
macro_rules! service_clients {
    ($($sdk:ident),*) => {$(
        impl ServiceClient for $sdk::Client {
            fn for_session(session: &Session) -> Self {
                use $sdk::config::retry::{ClientRateLimiter, RetryPartition, TokenBucket};
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs_f64();
                let partition = RetryPartition::custom(format!(
                    "{}-{}-{}",
                    stringify!($sdk),
                    session.env.name,
                    session.env.region
                ))
                    .token_bucket(TokenBucket::default())
                    .client_rate_limiter(ClientRateLimiter::new(now))
                    .build();
                let config = $sdk::config::Builder::from(&session.config)
                    .retry_partition(partition)
                    .build();
                $sdk::Client::from_conf(config)
            }
        }
    )*};
}

service_clients!(
    aws_sdk_budgets,
    aws_sdk_cloudwatch,
    aws_sdk_iam,
    aws_sdk_sns,
    aws_sdk_ssm
);

/// Paces calls to at most `rate` a second (no bursts), across every task that shares it.
///
/// AWS quotas are token buckets; the SDK retries throttled calls, but a bulk apply that runs
/// into the quota wastes attempts and can exhaust them. Pacing below the quota avoids that.
#[derive(Clone)]
pub struct RateLimiter {
    interval: Duration,
    next_free: Arc<tokio::sync::Mutex<Option<Instant>>>,
}

impl RateLimiter {
    pub fn per_second(rate: f64) -> RateLimiter {
        RateLimiter {
            interval: Duration::from_secs_f64(1.0 / rate),
            next_free: Arc::new(tokio::sync::Mutex::new(None)),
        }
    }

    /// Waits for this caller's turn.
    pub async fn acquire(&self) {
        let turn = {
            let mut next_free = self.next_free.lock().await;
            let now = Instant::now();
            let turn = next_free.map_or(now, |t| t.max(now));
            *next_free = Some(turn + self.interval);
            turn
        };
        tokio::time::sleep_until(turn).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Environment {
        let mut env: Environment = toml::from_str("region = \"eu-west-1\"").unwrap();
        env.name = name.into();
        env
    }

    /// Two environments (perhaps two accounts) never share the adaptive rate or the retry
    /// budget: each session's client has a partition of its own, and one session's clients
    /// of a service share theirs.
    #[tokio::test]
    async fn each_session_paces_its_own_calls() {
        let (dev, prod) = (
            Session::connect(&env("dev")).await,
            Session::connect(&env("prod")).await,
        );
        let partition = |client: aws_sdk_ssm::Client| client.config().retry_partition().cloned();
        let (dev_ssm, prod_ssm) = (partition(dev.client()), partition(prod.client()));
        assert!(dev_ssm.is_some());
        assert_ne!(dev_ssm, prod_ssm);
        assert_eq!(
            dev_ssm,
            partition(dev.client()),
            "one client per session and service"
        );
        let default = aws_sdk_ssm::config::retry::RetryPartition::new("ssm-eu-west-1");
        assert_ne!(dev_ssm, Some(default), "not the SDK's process-wide partition");
    }
}

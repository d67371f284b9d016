//! The per-environment apply lock, kept in AWS itself so that it binds every machine: an SSM
//! parameter `/plumb/lock/<env>` created with `Overwrite=false`, which AWS creates atomically
//! for exactly one caller. It holds who took it, when, for which plan, and when it expires.
//!
//! The lock lies outside every scope: parameter reads skip `/plumb/lock/`, and declaring a
//! parameter there is a validation error, so plumb never prunes it. A lock past the expiry its
//! holder wrote into it (a killed apply) is broken by the next apply; `plumb unlock --env
//! NAME` breaks one at once. A running apply writes its lock again with a new expiry every
//! quarter of the TTL, so however long it runs its lock never expires under it; an apply that
//! finds its lock gone or someone else's stops as a signal stops it.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use anyhow::{Context, Result, bail};
use aws_sdk_ssm::Client;
use aws_sdk_ssm::types::ParameterType;
use serde::{Deserialize, Serialize};

use crate::aws::{AwsError, DoneIf, SdkResult, Session, codes};
use crate::error::Interrupted;
use crate::interrupt;
use crate::output;
use crate::refusal::Refusal;

pub const LOCK_PREFIX: &str = "/plumb/lock/";
/// How long a lock holds when its holder never releases it (killed with SIGKILL, say), unless
/// `PLUMB_LOCK_TTL` (seconds) says otherwise.
const DEFAULT_TTL: Duration = Duration::from_secs(2 * 3600);
/// `PLUMB_LOCK_TTL`'s bounds: a renewal every second at least, and a week at most.
const TTL_SECS: std::ops::RangeInclusive<u64> = 4..=7 * 86_400;

/// The lock's time to live: `PLUMB_LOCK_TTL`, or two hours.
pub fn ttl() -> Result<Duration, String> {
    let Some(text) = crate::aws::setting("PLUMB_LOCK_TTL")? else {
        return Ok(DEFAULT_TTL);
    };
    match text.trim().parse::<u64>() {
        Ok(secs) if TTL_SECS.contains(&secs) => Ok(Duration::from_secs(secs)),
        _ => Err(format!(
            "PLUMB_LOCK_TTL is `{text}`: it must be a whole number of seconds from {} to {}",
            TTL_SECS.start(),
            TTL_SECS.end()
        )),
    }
}

/// The TTL for a lock being written or read (`check_settings` refused a bad one already).
fn lock_ttl() -> Duration {
    ttl().unwrap_or(DEFAULT_TTL)
}
/// How often a waiting apply (`--lock-timeout`) looks again.
const POLL: Duration = Duration::from_secs(2);

/// Whether an SSM parameter name is one of plumb's locks (never read as a resource).
pub fn is_lock_name(name: &str) -> bool {
    name.starts_with(LOCK_PREFIX)
}

fn lock_name(environment: &str) -> String {
    format!("{LOCK_PREFIX}{environment}")
}

/// What a lock parameter holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Holder {
    /// Who: `user@host (pid N)`, or the GitHub Actions run.
    pub holder: String,
    /// Tells this process's lock from another's with the same description.
    pub token: String,
    pub plan: String,
    pub acquired_at: u64,
    pub expires_at: u64,
}

impl Holder {
    /// For messages: the lock's value is anyone's to write, so its text is shown with
    /// control characters escaped (no terminal escapes, no forged log lines).
    fn describe(&self) -> String {
        format!(
            "{} since {} (plan: {}; expires {})",
            printable(&self.holder),
            utc(self.acquired_at),
            printable(&self.plan),
            utc(self.expires_at)
        )
    }
}

/// A lock this process holds; [`Lock::release`] gives it back.
#[derive(Clone)]
pub struct Lock {
    environment: String,
    client: Client,
    token: String,
    /// When the expiry last written into AWS passes, by this machine's monotonic clock. The
    /// expiry is computed before the write is sent, so this is never later than AWS's.
    valid_until: Instant,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Who this process is, for the lock's holder and for `unlock`'s message.
fn whoami() -> String {
    if let (Ok(server), Ok(repo), Ok(run)) = (
        std::env::var("GITHUB_SERVER_URL"),
        std::env::var("GITHUB_REPOSITORY"),
        std::env::var("GITHUB_RUN_ID"),
    ) {
        return format!("GitHub Actions run {server}/{repo}/actions/runs/{run}");
    }
    let user = std::env::var("USER").unwrap_or_else(|_| "someone".into());
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into());
    format!("{user}@{host} (pid {})", std::process::id())
}

/// Takes the lock of the session's environment, waiting up to `wait` for another holder.
/// Refused (exit 3) when another apply holds it.
pub async fn acquire(session: &Session, plan: &str, wait: Duration) -> Result<Lock> {
    let client = session.client::<Client>();
    let environment = session.env.name.clone();
    let name = lock_name(&environment);
    let token = format!("{}-{}", std::process::id(), nanos());
    let started = tokio::time::Instant::now();
    loop {
        if interrupt::requested() {
            bail!(Interrupted(format!(
                "interrupted while taking the apply lock of `{environment}`: nothing was changed"
            )));
        }
        let written = Instant::now();
        let holder = Holder {
            holder: whoami(),
            token: token.clone(),
            plan: plan.to_string(),
            acquired_at: now(),
            expires_at: now() + lock_ttl().as_secs(),
        };
        match create(&client, &environment, &holder).await {
            Ok(()) => {
                return Ok(Lock {
                    environment,
                    client,
                    token,
                    valid_until: written + lock_ttl(),
                });
            }
            Err(error) if error.code == codes::PARAMETER_ALREADY_EXISTS => {}
            Err(error) => {
                return Err(error).with_context(|| {
                    format!(
                        "cannot take the apply lock of environment `{environment}` (if AWS took it \
                         all the same, `plumb unlock --env {environment}` removes it)"
                    )
                });
            }
        }
        let Some(current) = read(&client, &name).await? else {
            continue; // released in the meantime
        };
        let other = current.holder.clone();
        if other.expires_at <= now() {
            take_over(&client, &environment, &current).await?;
            continue;
        }
        if started.elapsed() >= wait {
            bail!(Refusal::Locked {
                environment: environment.clone(),
                holder: other.describe(),
            });
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = interrupt::wait() => bail!(Interrupted(format!(
                "interrupted while waiting for the apply lock of `{environment}`: nothing was changed"
            ))),
        }
    }
}

fn nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

async fn create(client: &Client, environment: &str, holder: &Holder) -> Result<(), AwsError> {
    let name = lock_name(environment);
    let result = write(client, environment, holder, false).await;
    match result {
        Ok(_) => Ok(()),
        Err(e) => {
            let error = AwsError::from_sdk("PutParameter", &name, e);
            // "Succeeded but answered 500", then retried: the lock may be ours already.
            if error.code == codes::PARAMETER_ALREADY_EXISTS
                && let Ok(Some(current)) = read(client, &name).await
                && current.holder.token == holder.token
            {
                return Ok(());
            }
            Err(error)
        }
    }
}

/// Writes the lock parameter; `overwrite` only to renew this process's own lock.
async fn write(
    client: &Client,
    environment: &str,
    holder: &Holder,
    overwrite: bool,
) -> Result<
    aws_sdk_ssm::operation::put_parameter::PutParameterOutput,
    aws_sdk_ssm::error::SdkError<aws_sdk_ssm::operation::put_parameter::PutParameterError>,
> {
    let value = serde_json::to_string(holder).expect("a holder always serialises");
    client
        .put_parameter()
        .name(lock_name(environment))
        .value(value)
        .r#type(ParameterType::String)
        .description(format!("plumb apply lock of environment {environment}"))
        .overwrite(overwrite)
        .send()
        .await
}

/// A lock as read: its holder, and the parameter's version and write time, which together
/// name this one lock (a lock taken later has another write time).
struct Current {
    holder: Holder,
    version: i64,
    written: i64,
}

/// The lock's holder; `None` when there is no lock. A lock that does not parse (written by
/// hand?) counts as held by "an unknown holder" until it expires by its parameter's age.
async fn read(client: &Client, name: &str) -> Result<Option<Current>> {
    let output = match client.get_parameter().name(name).send().await {
        Ok(output) => output,
        Err(e) => {
            let error = AwsError::from_sdk("GetParameter", name, e);
            if error.code == codes::PARAMETER_NOT_FOUND {
                return Ok(None);
            }
            return Err(error).context("cannot read the apply lock");
        }
    };
    let Some(parameter) = output.parameter else {
        return Ok(None);
    };
    let value = parameter.value.unwrap_or_default();
    let written = parameter.last_modified_date.map_or(0, |d| d.secs());
    let holder = serde_json::from_str(&value).unwrap_or_else(|_| {
        let at = written.max(0) as u64;
        Holder {
            holder: "an unknown holder (the lock does not parse)".into(),
            token: String::new(),
            plan: "unknown".into(),
            acquired_at: at,
            expires_at: at + lock_ttl().as_secs(),
        }
    });
    Ok(Some(Current {
        holder,
        version: parameter.version,
        written,
    }))
}

/// Deletes the lock if it is still the stale one that was read.
async fn break_if_unchanged(client: &Client, lock: &str, stale: &Current) -> Result<()> {
    let still = read(client, lock).await?;
    if still.is_some_and(|c| (c.version, c.written) == (stale.version, stale.written)) {
        delete(client, lock).await?;
    }
    Ok(())
}

/// How long a takeover may take before another apply may clear it (its taker died).
const TAKEOVER_TTL: i64 = 60;

/// Breaks an expired lock. Deleting is not conditional in SSM, so two applies that both saw
/// it expired could each delete it, the second deleting the first one's fresh lock. So the
/// one that deletes it is the one that creates its takeover parameter (`Overwrite=false`,
/// named after that lock's version and write time), and it deletes only that same lock.
async fn take_over(client: &Client, environment: &str, stale: &Current) -> Result<()> {
    let lock = lock_name(environment);
    let takeover = format!("{lock}.takeover.{}-{}", stale.version, stale.written);
    let claim = client
        .put_parameter()
        .name(&takeover)
        .value(now().to_string())
        .r#type(ParameterType::String)
        .overwrite(false)
        .send()
        .await
        .aws("PutParameter", &takeover);
    match claim {
        Ok(_) => {
            let broken = break_if_unchanged(client, &lock, stale).await;
            // The claim goes whatever happened, or it would hold off every apply for a minute.
            let released = delete(client, &takeover).await;
            broken.and(released)
        }
        Err(error) if error.code == codes::PARAMETER_ALREADY_EXISTS => {
            // Another apply is taking it over; clear its claim only if it died doing so.
            if let Some(claim) = read(client, &takeover).await?
                && claim.written + TAKEOVER_TTL < now() as i64
            {
                delete(client, &takeover).await?;
            }
            tokio::time::sleep(POLL / 4).await;
            Ok(())
        }
        Err(error) => Err(error).context("cannot break the expired apply lock"),
    }
}

async fn delete(client: &Client, name: &str) -> Result<()> {
    let deleted = client
        .delete_parameter()
        .name(name)
        .send()
        .await
        .aws("DeleteParameter", name);
    deleted
        .done_if(&[codes::PARAMETER_NOT_FOUND])
        .context("cannot remove the apply lock")
}

/// What a renewal found.
enum Renewal {
    /// Written again; valid until then.
    Renewed(Instant),
    /// Someone else's lock, or none: `plumb unlock` ran, or renewals failed past the expiry.
    Lost(Option<String>),
}

impl Lock {
    /// Writes the lock again with a new expiry, if it is still this process's. SSM has no
    /// conditional overwrite: between the read and the write, only `plumb unlock` followed by
    /// another apply's lock could come in (a renewed lock never expires), and that apply's
    /// own renewal then finds its lock lost and stops.
    async fn renew(&self) -> Result<Renewal> {
        let name = lock_name(&self.environment);
        let current = match read(&self.client, &name).await? {
            Some(current) if current.holder.token == self.token => current,
            Some(other) => return Ok(Renewal::Lost(Some(other.holder.describe()))),
            None => return Ok(Renewal::Lost(None)),
        };
        let written = Instant::now();
        let holder = Holder {
            expires_at: now() + lock_ttl().as_secs(),
            ..current.holder
        };
        write(&self.client, &self.environment, &holder, true)
            .await
            .aws("PutParameter", &name)
            .context("cannot renew the apply lock")?;
        Ok(Renewal::Renewed(written + lock_ttl()))
    }

    /// Gives the lock back, if it is still this process's.
    pub async fn release(self) -> Result<()> {
        let name = lock_name(&self.environment);
        let released = async {
            match read(&self.client, &name).await? {
                Some(current) if current.holder.token == self.token => delete(&self.client, &name).await,
                _ => Ok(()),
            }
        };
        released.await.with_context(|| {
            format!(
                "the apply lock of `{}` could not be released: run `plumb unlock --env {}`",
                self.environment, self.environment
            )
        })
    }
}

/// The locks an apply holds, renewed while it runs (see [`Held::hold_while`]). Locks join as
/// they are taken, so that the first ones are renewed while the apply waits for the next.
#[derive(Default)]
pub struct Held(Mutex<Vec<Lock>>);

impl Held {
    pub fn add(&self, lock: Lock) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push(lock);
    }

    pub fn into_locks(self) -> Vec<Lock> {
        self.0.into_inner().unwrap_or_else(PoisonError::into_inner)
    }

    fn snapshot(&self) -> Vec<Lock> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn renewed(&self, environment: &str, until: Instant) {
        let mut locks = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(lock) = locks.iter_mut().find(|l| l.environment == environment) {
            lock.valid_until = until;
        }
    }

    /// Runs `work` (taking the locks, then the apply) while keeping the locks fresh: each is
    /// renewed every quarter of the TTL, alongside the work. A lock found lost, or not
    /// renewed by three quarters of its TTL (AWS failing or slow all that time), stops the
    /// apply as a first signal does: no new change starts, the ones in flight finish, and
    /// the report says what was not done. A renewal is never dropped half-way, even when the
    /// work ends: dropped, its write could land after the release and leave a lock behind.
    pub async fn hold_while<T>(&self, work: impl std::future::Future<Output = T>) -> T {
        let done = tokio::sync::Notify::new();
        let work = async {
            let out = work.await;
            done.notify_one();
            out
        };
        let renewals = async {
            let mut stopped = false;
            loop {
                tokio::select! {
                    _ = done.notified() => break,
                    _ = tokio::time::sleep(lock_ttl() / 4) => self.renew_all(&mut stopped).await,
                }
            }
        };
        tokio::join!(work, renewals).0
    }

    async fn renew_all(&self, stopped: &mut bool) {
        let ttl = lock_ttl();
        for lock in self.snapshot() {
            let deadline = lock.valid_until.checked_sub(ttl / 4).unwrap_or(lock.valid_until);
            let renewal = lock.renew();
            let mut renewal = std::pin::pin!(renewal);
            let outcome = tokio::select! {
                outcome = &mut renewal => outcome,
                _ = tokio::time::sleep_until(deadline) => {
                    stop(stopped, format!(
                        "the apply lock of `{}` could not be renewed in time (AWS is slow or \
                         failing; it expires in {} s): starting no new changes",
                        lock.environment,
                        lock.valid_until.saturating_duration_since(Instant::now()).as_secs()
                    ));
                    renewal.await
                }
            };
            let problem = match outcome {
                // Written after the old expiry: another apply may have broken the lock and
                // taken its own in between, and this write replaced it.
                Ok(Renewal::Renewed(_)) if Instant::now() >= lock.valid_until => format!(
                    "the apply lock of `{}` was renewed only after it had expired, when another \
                     apply may have taken it: starting no new changes",
                    lock.environment
                ),
                Ok(Renewal::Renewed(until)) => {
                    self.renewed(&lock.environment, until);
                    continue;
                }
                Ok(Renewal::Lost(holder)) => format!(
                    "the apply lock of `{}` is no longer this apply's ({}): starting no new changes",
                    lock.environment,
                    holder.map_or("it was removed".into(), |h| format!("now held by {h}"))
                ),
                Err(error) if Instant::now() < deadline => {
                    output::stderr(&format!("warning: {error:#}; trying again\n"));
                    continue;
                }
                Err(error) => format!(
                    "the apply lock of `{}` could not be renewed ({error:#}): starting no new \
                     changes before it expires",
                    lock.environment
                ),
            };
            stop(stopped, problem);
        }
    }
}

/// Stops the apply, saying why, once.
fn stop(stopped: &mut bool, why: String) {
    if !*stopped {
        output::stderr(&format!("\n{why}\n"));
        interrupt::stop();
        *stopped = true;
    }
}

/// `plumb unlock`: removes the environment's lock, whoever holds it; says whose it was.
pub async fn unlock(session: &Session) -> Result<Option<String>> {
    let client = session.client::<Client>();
    let name = lock_name(&session.env.name);
    let Some(current) = read(&client, &name).await? else {
        return Ok(None);
    };
    delete(&client, &name).await?;
    Ok(Some(current.holder.describe()))
}

/// `text` with control characters escaped, cut to a reasonable length.
fn printable(text: &str) -> String {
    let cut: String = text.chars().take(200).collect();
    crate::render::visible(&cut.replace('\n', "\\n"))
}

/// `2026-12-01T19:39:48Z` for seconds since the epoch.
pub fn utc(secs: u64) -> String {
    let secs = secs.min(253_402_300_799); // 9999-12-31T23:59:59Z: a hand-written lock may say more
    let days = (secs / 86_400) as i64;
    let rest = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::{is_lock_name, utc};

    #[test]
    fn timestamps_are_utc() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(1_796_146_788), "2026-12-01T17:39:48Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn lock_names_are_reserved() {
        assert!(is_lock_name("/plumb/lock/dev"));
        assert!(!is_lock_name("/plumb/locker"));
    }
}

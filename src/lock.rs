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

/// The TTL for a lock being written or read (`check_settings` refused a bad one already),
/// read from the environment once.
fn lock_ttl() -> Duration {
    static TTL: std::sync::LazyLock<Duration> = std::sync::LazyLock::new(|| ttl().unwrap_or(DEFAULT_TTL));
    *TTL
}

/// Until when a lock whose expiry was computed at `written` holds, by this machine's
/// monotonic clock: a second early, as the expiry is written in whole seconds rounded down.
fn valid_from(written: Instant) -> Instant {
    written + lock_ttl() - Duration::from_secs(1)
}

/// The longest plumb waits for one call on a lock: a quarter of its time, so that a call's
/// outcome is known while the lock still holds. (A lease in AWS cannot be safe against a
/// request the network delays past the lock's time; the two hours by default leave AWS's
/// own latencies far behind.)
async fn bounded<T>(call: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    let limit = lock_ttl() / 4;
    match tokio::time::timeout(limit, call).await {
        Ok(result) => result,
        Err(_) => bail!("no answer from AWS within {} ms", limit.as_millis()),
    }
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
        let created = tokio::time::timeout(lock_ttl() / 4, create(&client, &environment, &holder)).await;
        match created {
            Ok(Ok(())) => {
                return Ok(Lock {
                    environment,
                    client,
                    token,
                    valid_until: valid_from(written),
                });
            }
            Err(_) => bail!(
                "taking the apply lock of `{environment}` got no answer within a quarter of the \
                 lock's time: nothing was changed. If AWS took it all the same, it expires by \
                 itself, or `plumb unlock --env {environment}` removes it"
            ),
            Ok(Err(error)) if error.code == codes::PARAMETER_ALREADY_EXISTS => {}
            Ok(Err(error)) => {
                return Err(error).with_context(|| {
                    format!(
                        "cannot take the apply lock of environment `{environment}` (if AWS took it \
                         all the same, `plumb unlock --env {environment}` removes it)"
                    )
                });
            }
        }
        let Some(current) = bounded(read(&client, &name)).await? else {
            continue; // released in the meantime
        };
        let other = current.holder.clone();
        if other.expires_at <= now() {
            // Within half of another taker's patience, so that its claim still holds when
            // the stale lock is deleted.
            let limit = (lock_ttl() / 4).min(Duration::from_secs(TAKEOVER_TTL as u64 / 2));
            match tokio::time::timeout(limit, take_over(&client, &environment, &current)).await {
                Ok(taken) => taken?,
                Err(_) => bail!(
                    "breaking the expired apply lock of `{environment}` got no answer in time: \
                     nothing was changed"
                ),
            }
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

/// Deletes a lock parameter. Sent again only when AWS throttled it (not carried out): a
/// delete that landed but whose answer was lost, sent again, could delete the lock another
/// apply took in between. Any other failure leaves the lock to expire.
async fn delete(client: &Client, name: &str) -> Result<()> {
    const ATTEMPTS: u32 = 6;
    let mut attempt = 1;
    loop {
        let once = aws_sdk_ssm::config::Builder::default()
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1));
        let deleted = client
            .delete_parameter()
            .name(name)
            .customize()
            .config_override(once)
            .send()
            .await
            .aws("DeleteParameter", name);
        match deleted {
            Err(error) if codes::THROTTLED.contains(&error.code.as_str()) && attempt < ATTEMPTS => {
                tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                attempt += 1;
            }
            deleted => {
                return deleted
                    .done_if(&[codes::PARAMETER_NOT_FOUND])
                    .context("cannot remove the apply lock");
            }
        }
    }
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
        bounded(self.renew_unbounded())
            .await
            .context("cannot renew the apply lock")
    }

    async fn renew_unbounded(&self) -> Result<Renewal> {
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
            .aws("PutParameter", &name)?;
        Ok(Renewal::Renewed(valid_from(written)))
    }

    /// When to renew it: a quarter of its time after its expiry was written.
    fn renewal_due(&self) -> Instant {
        self.valid_until + Duration::from_secs(1) - lock_ttl() + lock_ttl() / 4
    }

    /// Whole seconds until it expires, rounded up, for messages.
    fn expires_in_secs(&self) -> u64 {
        self.valid_until
            .saturating_duration_since(Instant::now())
            .as_secs()
            + 1
    }

    /// When a renewal that has not landed by then comes too late: a quarter of the lock's
    /// time before it expires, the longest a call on it may take.
    fn deadline(&self) -> Instant {
        self.valid_until
            .checked_sub(lock_ttl() / 4)
            .unwrap_or(self.valid_until)
    }

    /// Gives the lock back, if it is still this process's. Past its deadline the lock is left
    /// to expire: a delete then could land after another apply took it, and delete that one.
    pub async fn release(self) -> Result<()> {
        let name = lock_name(&self.environment);
        let released = bounded(async {
            match read(&self.client, &name).await? {
                Some(current) if current.holder.token == self.token => {
                    if Instant::now() >= self.deadline() {
                        bail!(
                            "it is left to expire by itself, in {} s or less: removed so close \
                             to its expiry, the delete could land after another apply took it",
                            self.expires_in_secs()
                        );
                    }
                    delete(&self.client, &name).await
                }
                _ => Ok(()),
            }
        });
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
pub struct Held {
    locks: Mutex<Vec<HeldLock>>,
    /// Wakes the renewals when a lock joins, to schedule its first renewal.
    added: tokio::sync::Notify,
}

#[derive(Clone)]
struct HeldLock {
    lock: Lock,
    /// When to renew it next: a quarter of its time after it was written, sooner again after
    /// a renewal failed.
    next_try: Instant,
}

impl Held {
    pub fn add(&self, lock: Lock) {
        let next_try = lock.renewal_due();
        self.locks().push(HeldLock { lock, next_try });
        self.added.notify_one();
    }

    pub fn into_locks(self) -> Vec<Lock> {
        let held = self.locks.into_inner().unwrap_or_else(PoisonError::into_inner);
        held.into_iter().map(|h| h.lock).collect()
    }

    fn locks(&self) -> std::sync::MutexGuard<'_, Vec<HeldLock>> {
        self.locks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// When the renewals next need attention: the earliest renewal or deadline to come.
    fn next_wake(&self) -> Instant {
        let now = Instant::now();
        let wake = |h: &HeldLock| match h.lock.deadline() {
            deadline if deadline > now => h.next_try.min(deadline),
            _ => h.next_try,
        };
        self.locks().iter().map(wake).min().unwrap_or(now + lock_ttl())
    }

    /// Runs `work` (taking the locks, then the apply) while keeping the locks fresh: each is
    /// renewed a quarter of its time after it was written, alongside the work. A lock found
    /// lost, or not renewed by its deadline (a quarter of its time before it expires: AWS
    /// failing or slow all that time), stops the apply as a first signal does: no new change
    /// starts, the ones in flight finish, and the report says what was not done. A renewal
    /// is not dropped when the work ends (its write could land after the release); every
    /// call on a lock waits at most a quarter of its time.
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
                    _ = self.added.notified() => {}
                    _ = tokio::time::sleep_until(self.next_wake()) => self.renew_due(&mut stopped).await,
                }
            }
        };
        tokio::join!(work, renewals).0
    }

    /// Renews, side by side, every lock whose renewal is due; stops the apply for a lock past
    /// its deadline or lost.
    async fn renew_due(&self, stopped: &mut bool) {
        let now = Instant::now();
        for late in self.locks().iter_mut().filter(|h| h.lock.deadline() <= now) {
            stop(stopped, too_late(&late.lock, "its renewals failed"));
            late.next_try = never();
        }
        let due: Vec<HeldLock> = self
            .locks()
            .iter()
            .filter(|h| h.next_try <= now)
            .cloned()
            .collect();
        let renewals = due.iter().map(|h| async move { (h, h.lock.renew().await) });
        let mut renewals = std::pin::pin!(futures::future::join_all(renewals));
        let first_deadline = due.iter().min_by_key(|h| h.lock.deadline());
        let outcomes = match first_deadline {
            Some(first) => tokio::select! {
                outcomes = &mut renewals => outcomes,
                _ = tokio::time::sleep_until(first.lock.deadline()) => {
                    stop(stopped, too_late(&first.lock, "no renewal landed by its deadline"));
                    renewals.await
                }
            },
            None => renewals.await,
        };
        for (held, outcome) in outcomes {
            self.record(held, outcome, stopped);
        }
    }

    fn record(&self, held: &HeldLock, outcome: Result<Renewal>, stopped: &mut bool) {
        let lock = &held.lock;
        let now = Instant::now();
        let mut locks = self.locks();
        let Some(entry) = locks.iter_mut().find(|h| h.lock.environment == lock.environment) else {
            return;
        };
        match outcome {
            Ok(Renewal::Renewed(until)) if now < lock.deadline() => {
                entry.lock.valid_until = until;
                entry.next_try = entry.lock.renewal_due();
            }
            // Landed before the old expiry (a renewal starts before the deadline and waits at
            // most a quarter of the time), so the lock held throughout; but past the deadline
            // the apply stops, as promised, and the lock is no longer renewed.
            Ok(Renewal::Renewed(until)) => {
                stop(
                    stopped,
                    format!(
                        "the apply lock of `{}` was renewed only after its deadline (AWS is slow): \
                         starting no new changes",
                        lock.environment
                    ),
                );
                entry.lock.valid_until = until;
                entry.next_try = never();
            }
            Ok(Renewal::Lost(holder)) => {
                let why = format!(
                    "the apply lock of `{}` is no longer this apply's ({}): starting no new changes",
                    lock.environment,
                    holder.map_or("it was removed".into(), |h| format!("now held by {h}"))
                );
                stop(stopped, why);
                entry.next_try = never();
            }
            Err(error) if now < lock.deadline() => {
                output::stderr(&format!("warning: {error:#}; trying again\n"));
                entry.next_try = now + lock_ttl() / 16;
            }
            Err(error) => {
                stop(stopped, too_late(lock, &format!("{error:#}")));
                entry.next_try = never();
            }
        }
    }
}

/// A lock past its deadline is not renewed again: a renewal then could land after its
/// expiry and replace the lock of another apply that broke it.
fn never() -> Instant {
    Instant::now() + Duration::from_secs(365 * 86_400)
}

/// Why an apply stops when its lock could not be renewed in time.
fn too_late(lock: &Lock, why: &str) -> String {
    format!(
        "the apply lock of `{}` could not be renewed in time ({why}; it expires in {} s or less): \
         starting no new changes",
        lock.environment,
        lock.expires_in_secs()
    )
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

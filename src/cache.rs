//! A local cache of plain live values, keyed by AWS's own version stamps, so that `plan` and
//! `drift` read again only what may have changed (`GetParameters` for the misses) instead of
//! every value.
//!
//! What it promises:
//! - **Exact.** An entry is used only for the same account, region, name, version and
//!   last-modified time AWS reports now; a hand edit bumps the version, a parameter deleted
//!   and created again has a new last-modified time. Anything else is a miss, read from AWS.
//! - **No secrets.** Only values plumb may show are stored: never a SecureString, never a
//!   value plumb wrote from the environment (`value_from_env`), never one its declaration
//!   reads from the environment (the kind decides, see `kinds::ssm::parameter`).
//! - **Never what is applied.** `apply` never uses it: it reads live state fresh, so a stale
//!   or tampered cache can make a plan wrong or slower, and a saved plan made with it is then
//!   refused at apply as stale; it never changes what is written to AWS.
//! - **Harmless when broken.** A file that does not parse, or holds another account's or
//!   region's entries, is ignored with a warning (and replaced).
//!
//! Location: `PLUMB_CACHE_DIR`, else `$XDG_CACHE_HOME/plumb`, else `~/.cache/plumb`; one file
//! per account, region and service.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Serialize};

use crate::output;

const FORMAT: u32 = 1;

/// One environment's view of a service's cached values in one account and region: reads see
/// the shared entries and this environment's own new ones; its new ones join the shared
/// entries only at its [`Store::save`], after its secret filter, so that another
/// environment's save never writes them.
#[derive(Debug)]
pub struct Store {
    shared: Arc<Shared>,
    pending: Mutex<BTreeMap<String, Entry>>,
}

/// A cache file's entries, one per process: environments in one account and region share it
/// (each with a copy of its own, the last to save would win, and could write back a value the
/// other had just found to be secret).
#[derive(Debug)]
struct Shared {
    path: Option<PathBuf>,
    account: String,
    region: String,
    service: &'static str,
    state: Mutex<State>,
    /// Held from the copy of the entries to the end of the write, so that the file written
    /// last holds the latest entries.
    writing: Mutex<()>,
}

#[derive(Debug, Default)]
struct State {
    entries: BTreeMap<String, Entry>,
    /// Names found to be secret in this run, by any environment: never stored again.
    secret: BTreeSet<String>,
    /// Set when an entry was added or dropped: only then is the file written.
    changed: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    /// AWS's version stamp of the value (`3@1733140000.123456789`: version and last-modified).
    stamp: String,
    value: String,
}

/// A cache file as written, borrowing the store's entries; the same fields as [`File`].
#[derive(Serialize)]
struct FileRef<'a> {
    format: u32,
    account: &'a str,
    region: &'a str,
    service: &'a str,
    entries: &'a BTreeMap<String, Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    format: u32,
    account: String,
    region: String,
    service: String,
    entries: BTreeMap<String, Entry>,
}

/// Where cache files go; `None` when no home or cache folder can be found (then nothing is
/// cached).
pub fn folder() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("PLUMB_CACHE_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("plumb"));
    }
    std::env::var_os("HOME")
        .filter(|d| !d.is_empty())
        .map(|home| PathBuf::from(home).join(".cache/plumb"))
}

/// A view (for one environment) of the one store of this cache file in this process.
pub fn open(account: &str, region: &str, service: &'static str) -> Store {
    type Key = (String, String, &'static str);
    static STORES: OnceLock<Mutex<BTreeMap<Key, Arc<Shared>>>> = OnceLock::new();
    let mut stores = STORES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let shared = stores
        .entry((account.to_string(), region.to_string(), service))
        .or_insert_with(|| Arc::new(Shared::load(account, region, service)))
        .clone();
    Store::over(shared)
}

impl Shared {
    /// The store of `service` in this account and region, read from its file if there is one.
    fn load(account: &str, region: &str, service: &'static str) -> Shared {
        let path = folder().map(|dir| dir.join(file_name(account, region, service)));
        let entries = path
            .as_ref()
            .and_then(|path| read(path, account, region, service))
            .unwrap_or_default();
        Shared {
            path,
            account: account.to_string(),
            region: region.to_string(),
            service,
            state: Mutex::new(State {
                entries,
                ..State::default()
            }),
            writing: Mutex::new(()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes the file when something changed (atomically: a temporary file renamed). A cache
    /// that cannot be written is said, never fatal. The entries are written straight from the
    /// store, under its lock: at 100,000 parameters a copy of them (or of the text) would be
    /// tens of megabytes at the plan's peak.
    fn write_if_changed(&self) {
        let Some(path) = &self.path else { return };
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let mut state = self.state();
        if !std::mem::take(&mut state.changed) {
            return;
        }
        let file = FileRef {
            format: FORMAT,
            account: &self.account,
            region: &self.region,
            service: self.service,
            entries: &state.entries,
        };
        if let Err(error) = write(path, &file) {
            state.changed = true;
            output::stderr(&format!(
                "warning: cannot write the cache {}: {error}\n",
                path.display()
            ));
        }
    }
}

impl Store {
    fn over(shared: Arc<Shared>) -> Store {
        Store {
            shared,
            pending: Mutex::new(BTreeMap::new()),
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached value of `name` if it was read at exactly this `stamp`.
    pub fn get(&self, name: &str, stamp: &str) -> Option<String> {
        let exact = |entry: &&Entry| entry.stamp == stamp;
        if let Some(entry) = self.pending().get(name).filter(exact) {
            return Some(entry.value.clone());
        }
        let state = self.shared.state();
        state
            .entries
            .get(name)
            .filter(exact)
            .map(|entry| entry.value.clone())
    }

    /// Whether any entry's name satisfies `wanted` (a scope): a cold cache holds none.
    pub fn holds_any(&self, wanted: &dyn Fn(&str) -> bool) -> bool {
        self.pending().keys().any(|name| wanted(name))
            || self.shared.state().entries.keys().any(|name| wanted(name))
    }

    /// Remembers a value read at `stamp`, for this environment until it saves; not one an
    /// environment already found secret in this run (its save would drop it anyway).
    pub fn put(&self, name: &str, stamp: &str, value: &str) {
        if self.shared.state().secret.contains(name) {
            return;
        }
        let entry = Entry {
            stamp: stamp.to_string(),
            value: value.to_string(),
        };
        self.pending().insert(name.to_string(), entry);
    }

    /// Keeps only the names AWS still lists (a deleted parameter's entry goes).
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        self.pending().retain(|name, _| keep(name));
        let mut state = self.shared.state();
        let before = state.entries.len();
        state.entries.retain(|name, _| keep(name));
        if state.entries.len() != before {
            state.changed = true;
        }
    }

    /// Adds this environment's new values to the shared entries and writes the file when
    /// something changed, without the `secret` names (the pipeline knows more than the kind: a
    /// base revision may read a value from the environment) nor any another environment
    /// sharing this store called secret.
    pub fn save(&self, secret: &BTreeSet<&str>) {
        let pending = std::mem::take(&mut *self.pending());
        {
            let mut state = self.shared.state();
            state.secret.extend(secret.iter().map(|name| name.to_string()));
            let State {
                entries,
                secret,
                changed,
            } = &mut *state;
            for (name, entry) in pending {
                if !secret.contains(&name) && entries.get(&name) != Some(&entry) {
                    entries.insert(name, entry);
                    *changed = true;
                }
            }
            let before = entries.len();
            entries.retain(|name, _| !secret.contains(name));
            *changed |= entries.len() != before;
        }
        self.shared.write_if_changed();
    }
}

fn file_name(account: &str, region: &str, service: &str) -> String {
    let safe = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    format!("{}-{}-{}.json", safe(service), safe(account), safe(region))
}

/// The entries of a cache file; `None` (with a warning) when it is unreadable or not this
/// account's, region's and service's.
fn read(
    path: &std::path::Path,
    account: &str,
    region: &str,
    service: &str,
) -> Option<BTreeMap<String, Entry>> {
    let reader = match open_checked(path) {
        Ok(reader) => reader,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            warn(path, &format!("cannot read it ({e})"));
            return None;
        }
    };
    // Parsed as read: at 100,000 parameters the text would be another ten megabytes.
    let file: File = match serde_json::from_reader(std::io::BufReader::new(reader)) {
        Ok(file) => file,
        Err(e) => {
            warn(path, &format!("it does not parse ({e})"));
            return None;
        }
    };
    if file.format != FORMAT || file.account != account || file.region != region || file.service != service {
        warn(
            path,
            &format!(
                "it holds {} values of account {} in {} (format {}), not of {account} in {region}",
                file.service, file.account, file.region, file.format
            ),
        );
        return None;
    }
    Some(file.entries)
}

/// The largest cache file read: 100,000 parameters of a few hundred bytes each fit well
/// within it. A larger one is not plumb's (or is broken) and is ignored.
const MAX_FILE_BYTES: u64 = 64 << 20;

/// The file, to read, if it is a regular file (not a symlink to `/dev/zero` or a pipe, which
/// would never end) of at most [`MAX_FILE_BYTES`]. The checks are made on the file opened,
/// not on its path, so that it cannot be swapped for a pipe between the check and the read:
/// the open neither follows a symlink nor waits for a pipe's writer.
fn open_checked(path: &std::path::Path) -> std::io::Result<std::io::Take<std::fs::File>> {
    use std::io::Read;
    let file = open_no_follow(path)?;
    let metadata = file.metadata()?;
    if !metadata.file_type().is_file() {
        return Err(std::io::Error::other("it is not a regular file"));
    }
    if metadata.len() > MAX_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "it is larger than {} MiB",
            MAX_FILE_BYTES >> 20
        )));
    }
    Ok(file.take(MAX_FILE_BYTES))
}

#[cfg(unix)]
fn open_no_follow(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use rustix::fs::OFlags;
    use std::os::unix::fs::OpenOptionsExt;
    let flags = OFlags::NOFOLLOW | OFlags::NONBLOCK;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(code) if code == rustix::io::Errno::LOOP.raw_os_error() => {
                std::io::Error::other("it is not a regular file")
            }
            _ => e,
        })
}

#[cfg(not(unix))]
fn open_no_follow(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    if std::fs::symlink_metadata(path)?.file_type().is_symlink() {
        return Err(std::io::Error::other("it is not a regular file"));
    }
    std::fs::File::open(path)
}

fn warn(path: &std::path::Path, why: &str) {
    output::stderr(&format!(
        "warning: ignoring the cache {}: {why}; reading every value from AWS\n",
        path.display()
    ));
}

fn write(path: &PathBuf, file: &FileRef) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut temporary = tempfile::NamedTempFile::new_in(dir)?;
    let mut writer = std::io::BufWriter::new(temporary.as_file_mut());
    serde_json::to_writer(&mut writer, file).map_err(std::io::Error::other)?;
    writer.flush()?;
    drop(writer);
    temporary.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> Arc<Shared> {
        Arc::new(Shared {
            path: None,
            account: "111122223333".into(),
            region: "eu-west-1".into(),
            service: "ssm",
            state: Mutex::new(State::default()),
            writing: Mutex::new(()),
        })
    }

    fn store() -> Store {
        Store::over(shared())
    }

    #[test]
    fn a_name_one_environment_found_secret_is_never_stored_again() {
        let store = store();
        store.put("/dev/a", "1@", "plain");
        store.save(&BTreeSet::from(["/dev/a"]));
        assert_eq!(store.get("/dev/a", "1@"), None, "dropped at save");
        store.put("/dev/a", "1@", "plain");
        assert_eq!(store.get("/dev/a", "1@"), None, "refused after it");
    }

    /// Two environments share a file: one's new values are not the other's to write, so the
    /// other's save cannot put on disk a value the first is about to find secret.
    #[test]
    fn an_environment_s_new_values_join_the_file_only_at_its_own_save() {
        let shared = shared();
        let (dev, prod) = (Store::over(shared.clone()), Store::over(shared.clone()));
        dev.put("/app/token", "1@", "canary-token");
        assert_eq!(dev.get("/app/token", "1@").as_deref(), Some("canary-token"));
        prod.save(&BTreeSet::new());
        assert!(
            shared.state().entries.is_empty(),
            "prod's save writes none of dev's"
        );
        assert_eq!(prod.get("/app/token", "1@"), None);
        dev.save(&BTreeSet::from(["/app/token"]));
        assert!(shared.state().entries.is_empty(), "dev's own filter kept it out");
        prod.put("/app/token", "1@", "canary-token");
        prod.save(&BTreeSet::new());
        assert!(shared.state().entries.is_empty(), "secret for the whole run");
    }

    #[test]
    fn an_oversized_file_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.json");
        std::fs::File::create(&big)
            .unwrap()
            .set_len(MAX_FILE_BYTES + 1)
            .unwrap();
        let error = open_checked(&big).unwrap_err().to_string();
        assert!(error.contains("larger than 64 MiB"), "{error}");
    }

    /// A pipe never ends: reading one would hang every plan. Opened without waiting for a
    /// writer, it is refused as not a regular file, directly or through a symlink.
    #[cfg(unix)]
    #[test]
    fn a_pipe_or_a_symlink_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let pipe = dir.path().join("pipe.json");
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &pipe,
            rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
        )
        .unwrap();
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&pipe, &link).unwrap();
        for path in [&pipe, &link] {
            let error = open_checked(path).unwrap_err().to_string();
            assert!(
                error.contains("not a regular file"),
                "{}: {error}",
                path.display()
            );
        }
    }
}

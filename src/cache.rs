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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Serialize};

use crate::output;

const FORMAT: u32 = 1;

/// One service's cached values in one account and region.
#[derive(Debug)]
pub struct Store {
    path: Option<PathBuf>,
    account: String,
    region: String,
    service: &'static str,
    entries: Mutex<BTreeMap<String, Entry>>,
    /// Set when an entry was added or dropped: only then is the file written.
    changed: AtomicBool,
    /// Held while the file is written, so that two environments' saves do not interleave.
    writing: Mutex<()>,
    /// Names found to be secret in this run, by any environment: never stored again.
    secret: Mutex<BTreeSet<String>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    /// AWS's version stamp of the value (`3@1733140000.123456789`: version and last-modified).
    stamp: String,
    value: String,
}

#[derive(Serialize, Deserialize)]
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

/// The one store of a cache file in this process. Environments in one account and region
/// share it: each with a copy of its own, the last to save would win, and could write back a
/// value the other had just found to be secret.
pub fn shared(account: &str, region: &str, service: &'static str) -> Arc<Store> {
    static STORES: OnceLock<Mutex<BTreeMap<String, Arc<Store>>>> = OnceLock::new();
    let mut stores = STORES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    stores
        .entry(file_name(account, region, service))
        .or_insert_with(|| Arc::new(Store::load(account, region, service)))
        .clone()
}

impl Store {
    /// The store of `service` in this account and region, read from its file if there is one.
    pub fn load(account: &str, region: &str, service: &'static str) -> Store {
        let path = folder().map(|dir| dir.join(file_name(account, region, service)));
        let entries = path
            .as_ref()
            .and_then(|path| read(path, account, region, service))
            .unwrap_or_default();
        Store {
            path,
            account: account.to_string(),
            region: region.to_string(),
            service,
            entries: Mutex::new(entries),
            changed: AtomicBool::new(false),
            writing: Mutex::new(()),
            secret: Mutex::new(BTreeSet::new()),
        }
    }

    /// The cached value of `name` if it was read at exactly this `stamp`.
    pub fn get(&self, name: &str, stamp: &str) -> Option<String> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(name)
            .filter(|entry| entry.stamp == stamp)
            .map(|entry| entry.value.clone())
    }

    /// Whether any entry's name satisfies `wanted` (a scope): a cold cache holds none.
    pub fn holds_any(&self, wanted: &dyn Fn(&str) -> bool) -> bool {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.keys().any(|name| wanted(name))
    }

    /// Remembers a value read at `stamp`, unless an environment found it secret in this run.
    pub fn put(&self, name: &str, stamp: &str, value: &str) {
        if self
            .secret
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(name)
        {
            return;
        }
        let entry = Entry {
            stamp: stamp.to_string(),
            value: value.to_string(),
        };
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.get(name) != Some(&entry) {
            entries.insert(name.to_string(), entry);
            self.changed.store(true, Ordering::SeqCst);
        }
    }

    /// Keeps only the names AWS still lists (a deleted parameter's entry goes).
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let before = entries.len();
        entries.retain(|name, _| keep(name));
        if entries.len() != before {
            self.changed.store(true, Ordering::SeqCst);
        }
    }

    /// Writes the file when something changed (atomically: a temporary file renamed), without
    /// the `secret` names (the pipeline knows more than the kind: a base revision may read a
    /// value from the environment) nor any another environment sharing this store called
    /// secret. A cache that cannot be written is said, never fatal.
    pub fn save(&self, secret: &BTreeSet<&str>) {
        let all_secret = {
            let mut known = self.secret.lock().unwrap_or_else(|e| e.into_inner());
            known.extend(secret.iter().map(|name| name.to_string()));
            known.clone()
        };
        self.retain(|name| !all_secret.contains(name));
        let Some(path) = &self.path else { return };
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        // Cleared before the entries are copied: an entry put meanwhile sets it again, and
        // its environment's save writes once more.
        if !self.changed.swap(false, Ordering::SeqCst) {
            return;
        }
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let file = File {
            format: FORMAT,
            account: self.account.clone(),
            region: self.region.clone(),
            service: self.service.to_string(),
            entries,
        };
        if let Err(error) = write(path, &file) {
            self.changed.store(true, Ordering::SeqCst);
            output::stderr(&format!(
                "warning: cannot write the cache {}: {error}\n",
                path.display()
            ));
        }
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
    let text = match read_text(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            warn(path, &format!("cannot read it ({e})"));
            return None;
        }
    };
    let file: File = match serde_json::from_str(&text) {
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

/// The file's text, if it is a regular file (not a symlink to `/dev/zero` or a pipe, which
/// would never end) of at most [`MAX_FILE_BYTES`].
fn read_text(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read;
    let metadata = std::fs::symlink_metadata(path)?;
    if !metadata.file_type().is_file() {
        return Err(std::io::Error::other("it is not a regular file"));
    }
    if metadata.len() > MAX_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "it is larger than {} MiB",
            MAX_FILE_BYTES >> 20
        )));
    }
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_FILE_BYTES)
        .read_to_string(&mut text)?;
    Ok(text)
}

fn warn(path: &std::path::Path, why: &str) {
    output::stderr(&format!(
        "warning: ignoring the cache {}: {why}; reading every value from AWS\n",
        path.display()
    ));
}

fn write(path: &PathBuf, file: &File) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir)?;
    let text = serde_json::to_string(file).map_err(std::io::Error::other)?;
    let temporary = tempfile::NamedTempFile::new_in(dir)?;
    std::fs::write(temporary.path(), text)?;
    temporary.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Store {
        Store {
            path: None,
            account: "111122223333".into(),
            region: "eu-west-1".into(),
            service: "ssm",
            entries: Mutex::new(BTreeMap::new()),
            changed: AtomicBool::new(false),
            writing: Mutex::new(()),
            secret: Mutex::new(BTreeSet::new()),
        }
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

    #[test]
    fn an_oversized_file_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.json");
        std::fs::File::create(&big)
            .unwrap()
            .set_len(MAX_FILE_BYTES + 1)
            .unwrap();
        let error = read_text(&big).unwrap_err().to_string();
        assert!(error.contains("larger than 64 MiB"), "{error}");
    }
}

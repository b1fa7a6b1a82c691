//! Who this process is across restarts. Claims on runs, cards, messages and questions name
//! their owner; a bot killed while holding some would leave them to run out (a lease) before
//! anyone took them again. The instance's id is kept in a file under REPOS_BASE_DIR (the bot's
//! own persistent directory) and held with an exclusive lock while the process lives: the
//! process that gets the lock knows that the last holder is dead, and takes its claims back at
//! once. Another replica has its own directory, hence its own id, and still waits for a lease.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use tracing::{info, warn};

const FILE: &str = ".release-agent-instance";

/// This process's identity, and the lock that makes it ours while the process lives.
pub struct Instance {
    pub id: String,
    /// Held for the process's life; the kernel lets go of it when the process dies.
    _lock: Option<File>,
}

impl Instance {
    /// The id kept in `dir`, locked for this process; a new one is written the first time. When
    /// the file is locked by a live process (two bots sharing one directory) or cannot be used,
    /// this process gets a fresh id of its own and takes nothing back.
    pub fn acquire(dir: &Path) -> Self {
        match Self::locked(dir) {
            Ok(Some(instance)) => instance,
            Ok(None) => {
                warn!(dir = %dir.display(), "another live bot holds this directory's instance id; using a new one");
                Self::fresh()
            }
            Err(e) => {
                warn!(dir = %dir.display(), error = %e, "cannot keep an instance id; claims of an earlier life wait for their lease");
                Self::fresh()
            }
        }
    }

    fn fresh() -> Self {
        Self {
            id: uuid::Uuid::new_v4().simple().to_string(),
            _lock: None,
        }
    }

    fn locked(dir: &Path) -> std::io::Result<Option<Self>> {
        std::fs::create_dir_all(dir)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(FILE))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Error(e)) => return Err(e),
        }
        let mut kept = String::new();
        file.read_to_string(&mut kept)?;
        let kept = kept.trim();
        let id = if is_id(kept) {
            kept.to_owned()
        } else {
            let id = uuid::Uuid::new_v4().simple().to_string();
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            file.write_all(id.as_bytes())?;
            file.sync_all()?;
            info!(%id, "a new instance id");
            id
        };
        Ok(Some(Self {
            id,
            _lock: Some(file),
        }))
    }
}

fn is_id(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_is_kept_across_lives_and_not_shared_by_two_live_ones() {
        let dir = tempfile::tempdir().unwrap();
        let first = Instance::acquire(dir.path());
        let second = Instance::acquire(dir.path());
        assert_ne!(first.id, second.id, "a live holder's id is not shared");
        let id = first.id.clone();
        drop(first);
        drop(second);
        assert_eq!(
            Instance::acquire(dir.path()).id,
            id,
            "the next life is the same instance"
        );
    }
}

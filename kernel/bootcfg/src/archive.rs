//! The config archive: a ustar file, read with `tar-no-std`.

use crate::Error;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use tar_no_std::TarArchiveRef;

/// The regular files of an archive, by normalised path (`etc/rc.conf`: no leading `./`
/// or `/`).
pub struct Archive<'a> {
    files: BTreeMap<String, &'a [u8]>,
}

impl<'a> Archive<'a> {
    /// Indexes the archive's regular files.
    pub fn parse(bytes: &'a [u8]) -> Result<Archive<'a>, Error> {
        let bad = |msg: String| Error {
            file: "config archive".into(),
            line: 0,
            msg,
        };
        let tar = TarArchiveRef::new(bytes)
            .map_err(|e| bad(alloc::format!("not a tar archive: {e:?}")))?;
        let mut files = BTreeMap::new();
        for entry in tar.entries() {
            let name = entry.filename();
            let name = name
                .as_str()
                .map_err(|e| bad(alloc::format!("file name is not UTF-8: {e:?}")))?;
            let path = normalize(name);
            if !path.is_empty() {
                files.insert(String::from(path), entry.data());
            }
        }
        Ok(Archive { files })
    }

    /// The contents of `path` (normalised as in [`Archive`]).
    pub fn get(&self, path: &str) -> Option<&'a [u8]> {
        self.files.get(normalize(path)).copied()
    }

    /// Every file with its size.
    pub fn list(&self) -> Vec<(String, usize)> {
        self.files
            .iter()
            .map(|(k, v)| (k.clone(), v.len()))
            .collect()
    }
}

fn normalize(p: &str) -> &str {
    let mut p = p;
    loop {
        if let Some(r) = p.strip_prefix("./") {
            p = r;
        } else if let Some(r) = p.strip_prefix('/') {
            p = r;
        } else {
            return p;
        }
    }
}

//! Boot configuration archives: what `cargo xtask run --config DIR` passes to the kernel.

use std::path::Path;

/// Packs the files under `dir` (e.g. `etc/rc.conf`, `etc/pf.conf`) into a ustar archive at
/// `out`, with paths relative to `dir`.
pub fn pack_dir(dir: &Path, out: &Path) -> std::io::Result<()> {
    if !dir.join("etc/rc.conf").is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{} has no etc/rc.conf", dir.display()),
        ));
    }
    let mut b = tar::Builder::new(std::fs::File::create(out)?);
    b.mode(tar::HeaderMode::Deterministic);
    b.follow_symlinks(true);
    b.append_dir_all(".", dir)?;
    b.finish()
}

/// Packs `files` (path, contents) into an archive at `out`.
pub fn pack_files(files: &[(&str, &str)], out: &Path) -> std::io::Result<()> {
    let mut b = tar::Builder::new(std::fs::File::create(out)?);
    for (path, text) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(text.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, path, text.as_bytes())?;
    }
    b.finish()
}

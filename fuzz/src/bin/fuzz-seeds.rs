//! Writes the fuzz targets' seeds (`flashlayer_fuzz::seeds`) into a corpus folder, one file per
//! seed named by its hash, as libFuzzer names its own finds: `fuzz-seeds fuzz/corpus`.

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let root = std::env::args_os().nth(1).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("fuzz/corpus"));
    for (target, bytes) in flashlayer_fuzz::seeds() {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir)?;
        let name = alloy::hex::encode(&alloy::primitives::keccak256(&bytes)[..20]);
        std::fs::write(dir.join(name), bytes)?;
    }
    println!("seeds written under {}", root.display());
    Ok(())
}

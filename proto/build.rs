//! Compiles `cdp/v1/*.proto` with protox (pure Rust, so no system `protoc` is needed) into
//! prost messages and tonic clients/servers, and writes the encoded descriptor set that the
//! server's reflection service publishes.
use prost::Message;
use std::{env, fs, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let dir = root.join("cdp/v1");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<String> = fs::read_dir(&dir)?
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".proto"))
        .map(|name| format!("cdp/v1/{name}"))
        .collect();
    files.sort();
    for file in &files {
        println!("cargo:rerun-if-changed={}", root.join(file).display());
    }
    let fds = protox::compile(&files, [&root])?;
    let out = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(out.join("cdp_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        // RPCs that no capability implements yet answer UNIMPLEMENTED, never a fake result.
        .generate_default_stubs(true)
        .compile_fds(fds)?;
    Ok(())
}

//! Compiles every `.proto` file under `proto/` (protoc comes from Debian's `protobuf-compiler`).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut files = Vec::new();
    collect(std::path::Path::new("proto"), &mut files)?;
    files.sort();
    // The directory too, so that a new .proto file is picked up.
    println!("cargo:rerun-if-changed=proto");
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_protos(&files, &[std::path::PathBuf::from("proto")])?;
    Ok(())
}

fn collect(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "proto") {
            out.push(path);
        }
    }
    Ok(())
}

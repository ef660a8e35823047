# Sourced by the scripts that run what cargo built: `cargo_target_dir` prints where cargo puts
# its build, which CARGO_TARGET_DIR or a cargo config's build.target-dir may move away from
# target/ (the scripts would otherwise fail after a successful build).
cargo_target_dir() {
  cargo metadata --format-version 1 --no-deps \
    | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p'
}

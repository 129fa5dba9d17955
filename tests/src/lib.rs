//! Support for the end-to-end tests: compiling the test programs in `programs/`, running them
//! under the `memprof` binary of this build, and reading the results back.
//!
//! The binaries come from the cargo target directory this test runs from
//! (`target/<profile>/memprof` and `libmemprof_preload.so`); `cargo build --workspace` builds
//! them.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

/// The directory holding this build's binaries.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/e2e-xxxx
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .to_path_buf();
    for name in ["memprof", "libmemprof_preload.so"] {
        assert!(
            dir.join(name).is_file(),
            "{} is missing: run `cargo build --workspace` before the tests",
            dir.join(name).display()
        );
    }
    dir
}

/// The `memprof` binary under test.
pub fn memprof() -> PathBuf {
    target_dir().join("memprof")
}

/// Runs `memprof ARGS`, which must succeed, and returns what it printed.
pub fn memprof_ok<S: AsRef<std::ffi::OsStr>>(args: impl IntoIterator<Item = S>) -> Vec<u8> {
    let out = Command::new(memprof())
        .args(args)
        .output()
        .expect("run memprof");
    assert!(
        out.status.success(),
        "memprof failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A fresh scratch directory for one test.
pub struct Scratch {
    pub dir: PathBuf,
}

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "memprof-e2e-{}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            name
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The captures in this directory, sorted by name.
    pub fn captures(&self) -> Vec<PathBuf> {
        self.captures_named("")
    }

    /// The captures in this directory whose name starts with `prefix`, sorted by name.
    pub fn captures_named(&self, prefix: &str) -> Vec<PathBuf> {
        let mut v: Vec<_> = std::fs::read_dir(&self.dir)
            .expect("scratch dir")
            .map(|e| e.expect("directory entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "mprof"))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(prefix))
            })
            .collect();
        v.sort();
        v
    }

    /// Compiles `programs/<source>` into this directory with `compiler` and `flags`.
    pub fn compile(&self, source: &str, compiler: &str, flags: &[&str]) -> PathBuf {
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("programs")
            .join(source);
        let out = self.path(Path::new(source).file_stem().unwrap().to_str().unwrap());
        let status = Command::new(compiler)
            .args(flags)
            .arg("-o")
            .arg(&out)
            .arg(&src)
            .status()
            .unwrap_or_else(|e| panic!("cannot run {compiler}: {e}"));
        assert!(status.success(), "{compiler} failed on {}", src.display());
        out
    }

    /// Compiles a C program at -O1 with debug information.
    pub fn c(&self, source: &str, extra: &[&str]) -> PathBuf {
        let mut flags = vec!["-O1", "-g", "-Wall", "-pthread"];
        flags.extend_from_slice(extra);
        self.compile(source, "gcc", &flags)
    }

    /// Compiles `programs/dlopen_lib.c`, a plugin that allocates, into the shared library
    /// `name` in the scratch directory.
    pub fn plugin(&self, name: &str) -> PathBuf {
        let lib = self.compile("dlopen_lib.c", "gcc", &["-O1", "-g", "-shared", "-fPIC"]);
        let so = self.path(name);
        std::fs::rename(&lib, &so).unwrap();
        so
    }

    /// Compiles the Rust program `programs/<source>` (crate name: the file's stem) with
    /// optimisations and debug information.
    pub fn rust(&self, source: &str) -> PathBuf {
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("programs")
            .join(source);
        let out = self.path(&format!(
            "{}-bin",
            Path::new(source).file_stem().unwrap().to_str().unwrap()
        ));
        let status = Command::new("rustc")
            .args(["-O", "-g", "--edition", "2021", "-o"])
            .arg(&out)
            .arg(&src)
            .status()
            .expect("cannot run rustc");
        assert!(status.success(), "rustc failed on {}", src.display());
        out
    }

    /// Runs `memprof run -o <dir>/<name>.mprof [opts] -- program args` in this directory.
    pub fn record(&self, name: &str, opts: &[&str], program: &Path, args: &[&str]) -> Recording {
        let capture = self.path(&format!("{name}.mprof"));
        let output = Command::new(memprof())
            .current_dir(&self.dir)
            .arg("run")
            .arg("-o")
            .arg(&capture)
            .args(opts)
            .arg("--")
            .arg(program)
            .args(args)
            .output()
            .expect("run memprof");
        Recording { capture, output }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The outcome of `memprof run`.
pub struct Recording {
    pub capture: PathBuf,
    pub output: Output,
}

impl Recording {
    pub fn code(&self) -> Option<i32> {
        self.output.status.code()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// `memprof report --json` of the capture: its "summary" object.
    pub fn summary(&self) -> Summary {
        summary_of(&self.capture)
    }

    /// `memprof report --json` of the capture: its "modules" array.
    pub fn modules(&self) -> Vec<Value> {
        report_json(&self.capture)["modules"]
            .as_array()
            .expect("modules")
            .clone()
    }
}

/// The summary of any capture file.
pub fn summary_of(capture: &Path) -> Summary {
    Summary(report_json(capture)["summary"].clone())
}

/// `memprof report --json` of any capture file.
pub fn report_json(capture: &Path) -> Value {
    report_json_with(capture, &[])
}

/// `memprof report --json` with more options.
pub fn report_json_with(capture: &Path, options: &[&str]) -> Value {
    let args = ["report", "--json"]
        .iter()
        .chain(options)
        .map(|a| a.as_ref());
    let out = memprof_ok(args.chain([capture.as_os_str()]));
    serde_json::from_slice(&out).expect("report --json prints JSON")
}

/// A `summary` object of `memprof report --json`.
#[derive(Debug, Clone)]
pub struct Summary(pub Value);

impl Summary {
    /// An integer field; panics if it is missing.
    pub fn n(&self, field: &str) -> u64 {
        self.0[field]
            .as_u64()
            .unwrap_or_else(|| panic!("summary has no integer {field}: {}", self.0))
    }

    pub fn flag(&self, field: &str) -> bool {
        self.0[field]
            .as_bool()
            .unwrap_or_else(|| panic!("summary has no boolean {field}: {}", self.0))
    }

    /// Asserts several integer fields at once, reporting every mismatch.
    pub fn expect(&self, expected: &[(&str, u64)]) {
        let wrong: Vec<String> = expected
            .iter()
            .filter(|(f, v)| self.n(f) != *v)
            .map(|(f, v)| format!("{f}: expected {v}, got {}", self.n(f)))
            .collect();
        assert!(
            wrong.is_empty(),
            "{}\nsummary: {:#}",
            wrong.join("\n"),
            self.0
        );
    }
}

/// What valgrind memcheck says about a program.
#[derive(Debug, PartialEq, Eq)]
pub struct Memcheck {
    pub allocs: u64,
    pub frees: u64,
    pub bytes: u64,
    pub in_use_bytes: u64,
    pub in_use_blocks: u64,
}

/// Runs `program` under memcheck and reads its heap summary.
pub fn memcheck(program: &Path, args: &[&str]) -> Memcheck {
    let out = Command::new("valgrind")
        .args(["--tool=memcheck", "--leak-check=no"])
        .arg(program)
        .args(args)
        .output()
        .expect("valgrind must be installed (apt-get install valgrind)");
    let text = String::from_utf8_lossy(&out.stderr);
    let nums = |line: &str| -> Vec<u64> {
        line.split(|c: char| !c.is_ascii_digit() && c != ',')
            .filter(|w| !w.is_empty() && w.chars().any(|c| c.is_ascii_digit()))
            .map(|w| w.replace(',', "").parse().unwrap())
            .collect()
    };
    let usage = text
        .lines()
        .find(|l| l.contains("total heap usage:"))
        .expect("memcheck heap summary");
    let in_use = text
        .lines()
        .find(|l| l.contains("in use at exit:"))
        .expect("memcheck in use at exit");
    let u = nums(usage.split("usage:").nth(1).unwrap());
    let i = nums(in_use.split("exit:").nth(1).unwrap());
    Memcheck {
        allocs: u[0],
        frees: u[1],
        bytes: u[2],
        in_use_bytes: i[0],
        in_use_blocks: i[1],
    }
}

/// Asserts that memprof's summary equals memcheck's heap summary.
pub fn assert_matches_memcheck(s: &Summary, m: &Memcheck) {
    s.expect(&[
        ("allocations", m.allocs),
        ("frees", m.frees),
        ("bytes_allocated", m.bytes),
        ("leaked_bytes", m.in_use_bytes),
        ("leaked_blocks", m.in_use_blocks),
        // memcheck matches every free with its allocation.
        ("untracked_frees", 0),
        ("lost_frees", 0),
    ]);
}

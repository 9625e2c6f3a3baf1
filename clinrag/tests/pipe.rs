//! `clinrag ... --json | head`: a reader that closes the pipe early must not make clinrag print
//! a panic; it ends quietly (exit 141, as a Unix filter killed by SIGPIPE would report, or 0 when
//! the write landed before the reader went away).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Read;
use std::process::{Command, Stdio};

#[test]
fn closed_stdout_ends_quietly() {
    let home = tempfile::tempdir().unwrap();
    for _ in 0..5 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_clinrag"))
            .args(["--json", "setup", "--list", "--home"])
            .arg(home.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Close the read end at once: the child's first write meets a closed pipe.
        drop(child.stdout.take());
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let status = child.wait().unwrap();
        assert!(
            !err.contains("panicked"),
            "clinrag panicked on a closed pipe: {err}"
        );
        let code = status.code();
        assert!(
            code == Some(141) || code == Some(0),
            "unexpected exit {code:?}: {err}"
        );
    }
}

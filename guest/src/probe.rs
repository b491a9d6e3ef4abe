//! The sandbox probe: the guest tries to reach outside and reports what happened.
//!
//! poof's promise is that the guest can decide but not act. This module lets a
//! test (and an auditor, through `poof guest probe`) watch the guest try to
//! read a file, list folders, read the environment and its arguments, and open
//! a socket, and see every attempt fail. Invariant: it only reports; it never
//! changes what the guest decides elsewhere.

use std::io::Read;

/// One attempt to reach outside the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// What was tried, in words.
    pub attempt: String,
    /// True when the attempt succeeded.
    pub reached: bool,
    /// The error seen, or a short account of what was reached.
    pub detail: String,
}

/// Runs every probe. `read_path` is a file to try to read, `connect_to` an `ip:port` to dial.
pub fn run(read_path: &str, connect_to: &str) -> Vec<Probe> {
    let mut out = Vec::new();

    out.push(match std::fs::File::open(read_path) {
        Ok(mut f) => {
            let mut buf = [0u8; 16];
            let n = f.read(&mut buf).unwrap_or(0);
            reached(format!("read file {read_path}"), format!("read {n} bytes"))
        }
        Err(e) => failed(format!("read file {read_path}"), e),
    });

    for dir in ["/", ".", "/tmp"] {
        out.push(match std::fs::read_dir(dir) {
            Ok(entries) => reached(
                format!("list folder {dir}"),
                format!("{} entries", entries.count()),
            ),
            Err(e) => failed(format!("list folder {dir}"), e),
        });
    }

    out.push(match std::fs::write("poof-probe", b"x") {
        Ok(()) => reached("create file poof-probe".into(), "written".into()),
        Err(e) => failed("create file poof-probe".into(), e),
    });

    let vars: Vec<String> = std::env::vars_os()
        .map(|(k, _)| k.to_string_lossy().into_owned())
        .collect();
    out.push(Probe {
        attempt: "read environment variables".into(),
        reached: !vars.is_empty(),
        detail: format!("{} variables visible", vars.len()),
    });

    let args = std::env::args_os().count();
    out.push(Probe {
        attempt: "read command-line arguments".into(),
        reached: args > 0,
        detail: format!("{args} arguments visible"),
    });

    out.push(match std::net::TcpStream::connect(connect_to) {
        Ok(_) => reached(format!("connect to {connect_to}"), "connected".into()),
        Err(e) => failed(format!("connect to {connect_to}"), e),
    });

    out
}

fn reached(attempt: String, detail: String) -> Probe {
    Probe {
        attempt,
        reached: true,
        detail,
    }
}

fn failed(attempt: String, e: std::io::Error) -> Probe {
    Probe {
        attempt,
        reached: false,
        detail: e.to_string(),
    }
}

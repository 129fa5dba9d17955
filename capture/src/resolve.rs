//! Call stacks as people read them: one line per function, inlined ones included.

use crate::{Capture, Module, NodeId, StackRef, Stacks, Symbols};

/// One frame of a call stack as shown: a function (an inlined one has a line of its own), or
/// an address in a module where nothing resolved.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Line {
    pub function: Option<String>,
    pub file: Option<String>,
    pub line: Option<u32>,
    /// The module, when the frame could not be resolved.
    pub module: Option<String>,
    pub address: u64,
    pub inlined: bool,
    /// The address relative to the module's load address, when unresolved.
    #[serde(skip)]
    pub offset: Option<u64>,
}

impl Line {
    /// The name that gathers this frame's calls, the same in every run of the program: the
    /// function, or the module and offset where nothing resolved (addresses move between
    /// runs).
    pub fn function_key(&self) -> String {
        match (&self.function, &self.module, self.offset) {
            (Some(f), _, _) => f.clone(),
            (None, Some(m), Some(off)) => format!("{}+{off:#x}", short(m)),
            _ => format!("{:#x}", self.address),
        }
    }
}

impl std::fmt::Display for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.function {
            Some(func) => write!(f, "{func}")?,
            None => write!(f, "{:#x}", self.address)?,
        }
        match (&self.file, self.line, &self.module) {
            (Some(file), Some(line), _) => write!(f, " ({}:{line})", short(file))?,
            (Some(file), None, _) => write!(f, " ({})", short(file))?,
            (None, _, Some(m)) => write!(f, " [{}]", short(m))?,
            _ => {}
        }
        if self.inlined {
            write!(f, " (inlined)")?;
        }
        Ok(())
    }
}

/// The last part of a path.
pub fn short(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// What resolving a capture's stacks needs, read once.
pub struct Resolved {
    pub stacks: Stacks,
    pub symbols: Symbols,
    pub modules: Vec<Module>,
}

impl Resolved {
    pub fn of(capture: &Capture) -> Resolved {
        let (stacks, modules) = capture.stacks_and_modules();
        Resolved {
            stacks,
            symbols: Symbols::read(capture),
            modules,
        }
    }

    pub fn resolver(&self) -> Resolver<'_> {
        Resolver {
            stacks: &self.stacks,
            symbols: &self.symbols,
            modules: &self.modules,
        }
    }
}

/// Resolves stacks with a capture's symbol tables and modules.
pub struct Resolver<'a> {
    pub stacks: &'a Stacks,
    pub symbols: &'a Symbols,
    pub modules: &'a [Module],
}

impl Resolver<'_> {
    /// Whether a frame of the stack ending at `node` names `needle` in its function (see
    /// [`Line::function_key`]) or its source file.
    pub fn mentions(&self, node: NodeId, needle: &str) -> bool {
        self.lines(node, usize::MAX).iter().any(|l| {
            l.function_key().contains(needle) || l.file.as_ref().is_some_and(|f| f.contains(needle))
        })
    }

    /// The lines of the stack ending at `node`, innermost first, at most `depth` of them.
    pub fn lines(&self, node: NodeId, depth: usize) -> Vec<Line> {
        let mut out = Vec::new();
        for ip in self.stacks.frames(StackRef {
            node: node.0,
            truncated: false,
        }) {
            let frames = self.symbols.frames(ip);
            if frames.is_empty() {
                let module = self
                    .modules
                    .iter()
                    .rfind(|m| m.contains(ip.saturating_sub(1)));
                out.push(Line {
                    function: None,
                    file: None,
                    line: None,
                    module: module.map(|m| m.path.clone()),
                    address: ip,
                    inlined: false,
                    offset: module.map(|m| ip - m.base),
                });
            }
            for (i, f) in frames.iter().enumerate() {
                out.push(Line {
                    function: f.function.clone(),
                    file: f.file.clone(),
                    line: f.line,
                    module: None,
                    address: ip,
                    inlined: i + 1 < frames.len(),
                    offset: None,
                });
            }
            if out.len() >= depth {
                out.truncate(depth);
                break;
            }
        }
        out
    }
}

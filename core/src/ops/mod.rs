//! The operations of a transform, one module per family, in the order the pipeline runs them
//! (see [`crate::Pipeline`] and the README's table).
//!
//! Each operation reads its own parameters from the parsed query and returns the image
//! unchanged when none of them is set, so the pipeline can call every stage unconditionally.

pub(crate) mod color;
pub(crate) mod compose;
pub(crate) mod effects;
pub(crate) mod filters;
pub(crate) mod geometry;
pub(crate) mod redeye;
pub(crate) mod rotate;
pub(crate) mod text;

use crate::Options;
use crate::query::Warning;

/// What an operation may need beyond its parameters: the caller's options (limits, the
/// resolver for layer images) and the warnings of this run.
pub(crate) struct Context<'a> {
    pub options: &'a Options,
    pub warnings: &'a mut Vec<Warning>,
}

impl Context<'_> {
    /// Records something the caller should know that did not stop the work.
    pub fn warn(&mut self, parameter: &str, message: impl Into<String>) {
        self.warnings.push(Warning {
            parameter: parameter.to_owned(),
            message: message.into(),
        });
    }
}

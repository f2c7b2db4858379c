//! Every integration test of the core crate, in one binary: each file linked on its own cost a
//! full link of the engine and its storage stack, which dominated `make test`.
mod common;

mod animation;
mod compose;
mod corpus;
mod docs;
mod faces;
mod geometry;
mod golden;
mod metadata;
mod pipeline;
mod quality;
mod recognition;
mod storage;
mod vectors;
mod vips;

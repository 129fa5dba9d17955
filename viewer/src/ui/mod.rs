//! The widgets: each binds a part of [`crate::model`] to GTK.

pub mod callgraph;
pub mod flame;
pub mod histogram;
pub mod lanes;
pub mod loading;
pub mod render;
pub mod summary;
pub mod timeline;
pub mod views;
pub mod window;

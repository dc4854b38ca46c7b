//! The `tiketi` server: one binary that runs any set of roles.
//!
//! - [`role`]: the roles a process can run and how they are named
//! - [`settings`]: the whole settings tree, read once from the environment
//! - [`app`]: building the server for a set of roles (also used by the tests) and running it
//! - [`web`]: the built frontend served beside the API
//! - [`cli`]: `tiketi up | serve | migrate | seed | keys`

pub mod api_doc;
pub mod app;
pub mod cli;
pub mod role;
pub mod settings;
pub mod web;

pub use app::Application;
pub use role::Role;
pub use settings::Settings;

//! Black-box tests: the real service on port 0, talked to over loopback HTTP. One test
//! binary for all of them (faster to link, one place for the helpers).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod a2a_js;
mod a2a_push;
mod a2a_server;
mod agents;
mod auth;
mod card_routing;
mod consent;
mod console;
mod console_admin;
mod console_views;
mod crash;
mod delivery;
mod fakes;
mod faults;
mod handoff;
mod helpers;
mod hostile;
mod inbox;
mod management;
mod media;
mod one_trace;
mod operations;
mod sandbox;
mod secrets;
mod send_rich;
mod sender_limit;
mod templates;
mod trace_and_errors;
mod transfer;
mod webhook_ingest;
mod webhook_security;

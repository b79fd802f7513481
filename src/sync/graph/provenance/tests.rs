//! The provenance rows, checked without a graph.

use super::*;

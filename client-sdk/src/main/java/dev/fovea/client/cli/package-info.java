/** The {@code fovea-client} command line: models, classify, stream. Not API: may change with any release. */
package dev.fovea.client.cli;

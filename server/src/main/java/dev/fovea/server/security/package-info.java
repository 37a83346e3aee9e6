/**
 * Transport security of the TCP listener and the metrics endpoint: TLS and client certificates from PEM files
 * ({@link dev.fovea.server.security.ServerTls}), bearer tokens ({@link dev.fovea.server.security.BearerTokens})
 * checked on gRPC calls ({@link dev.fovea.server.security.BearerAuthInterceptor}) and metrics scrapes
 * ({@link dev.fovea.server.security.BearerAuthenticator}). The Unix socket relies on file permissions instead.
 */
package dev.fovea.server.security;

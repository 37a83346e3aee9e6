/** Bounds on what a client can make the server do, echo or log. */
package dev.fovea.server.limits;

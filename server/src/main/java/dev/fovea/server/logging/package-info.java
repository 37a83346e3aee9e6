/** The process's log settings, changeable at run time (Triton's log settings extension). */
package dev.fovea.server.logging;

package dev.fovea.server.limits;

/**
 * Client-supplied strings as they may appear in status messages and logs. A client controls every byte of a model
 * name, an input name or a region key; echoed whole, a 1 MiB name would make the status trailer too large for the
 * client to read, and a newline would forge log lines. So every client string that the server writes back or logs
 * goes through {@link #quote}: quoted, at most {@link #MAX_CHARS} characters, one line.
 */
public final class ClientText {

    /** The most characters of one client string that a message carries. */
    public static final int MAX_CHARS = 128;

    /** The most characters of a client string that a response carries back as a value (an id, a model name). */
    public static final int MAX_ECHOED_VALUE_CHARS = 256;

    private ClientText() {}

    /**
     * {@code s} as a response may carry it back as a value (where quoting would change it): unchanged up to
     * {@link #MAX_ECHOED_VALUE_CHARS} characters, else cut there. Real ids and names are far shorter.
     */
    public static String echoedValue(String s) {
        return s.length() <= MAX_ECHOED_VALUE_CHARS ? s : s.substring(0, MAX_ECHOED_VALUE_CHARS);
    }

    /**
     * {@code s} in single quotes, control characters replaced by {@code ?}, cut at {@link #MAX_CHARS} characters
     * with the full length said after it, e.g. {@code 'aaaa…' (1048576 chars)}.
     */
    public static String quote(String s) {
        if (s == null) {
            return "null";
        }
        int shown = Math.min(s.length(), MAX_CHARS);
        StringBuilder out = new StringBuilder(shown + 24).append('\'');
        for (int i = 0; i < shown; i++) {
            char c = s.charAt(i);
            out.append(Character.isISOControl(c) || Character.isSurrogate(c) ? '?' : c);
        }
        out.append('\'');
        if (shown < s.length()) {
            out.insert(out.length() - 1, '…').append(" (").append(s.length()).append(" chars)");
        }
        return out.toString();
    }
}

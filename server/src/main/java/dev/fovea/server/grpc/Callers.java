package dev.fovea.server.grpc;

import dev.fovea.server.sharedmemory.Caller;
import dev.fovea.server.transport.PeerUid;
import io.grpc.Attributes;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.netty.channel.unix.DomainSocketAddress;
import java.net.SocketAddress;

/**
 * Puts each call's {@link Caller} (transport, and the peer's uid on the Unix socket) into its {@link Context}, where
 * the services read it with {@link #current()} for shared-memory calls. Install it on every listener.
 */
public final class Callers implements ServerInterceptor {

    private static final Context.Key<Caller> CALLER = Context.key("fovea.caller");

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
            ServerCallHandler<Q, R> next) {
        return Contexts.interceptCall(Context.current().withValue(CALLER, of(call.getAttributes())), call, headers,
                next);
    }

    /** The caller of the call running on this thread; a network caller (the least trusted) outside a call. */
    static Caller current() {
        Caller caller = CALLER.get();
        return caller == null ? Caller.network() : caller;
    }

    static Caller of(Attributes attributes) {
        SocketAddress remote = attributes.get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR);
        if (remote instanceof DomainSocketAddress) {
            Integer uid = attributes.get(PeerUid.KEY);
            return Caller.unixSocket(uid == null ? Caller.UNKNOWN_UID : uid);
        }
        // By name: grpc-inprocess is only on the test class path, and its addresses are the only ones in that package.
        if (remote != null && remote.getClass().getName().startsWith("io.grpc.inprocess.")) {
            return Caller.inProcess();
        }
        return Caller.network();
    }
}

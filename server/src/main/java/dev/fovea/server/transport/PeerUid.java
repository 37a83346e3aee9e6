package dev.fovea.server.transport;

import io.grpc.Attributes;
import io.grpc.ServerCredentials;
import io.grpc.netty.GrpcHttp2ConnectionHandler;
import io.grpc.netty.InternalNettyServerCredentials;
import io.grpc.netty.InternalProtocolNegotiationEvent;
import io.grpc.netty.InternalProtocolNegotiator;
import io.grpc.netty.InternalProtocolNegotiators;
import io.grpc.netty.ProtocolNegotiationEvent;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.util.AsciiString;
import java.io.IOException;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The uid of the process at the other end of a Unix socket connection, as the kernel reports it (SO_PEERCRED), put
 * into the gRPC transport's attributes under {@link #KEY} when the connection starts, so a call can ask who made it.
 *
 * <p>grpc-java exposes no connection to its services, only transport attributes, and those are filled during protocol
 * negotiation: so this wraps the plaintext negotiator, adding one step that reads the credentials of the accepted
 * socket before handing the connection on. It uses grpc-netty's {@code Internal*} hooks, the ones its own
 * negotiators are made of.
 */
public final class PeerUid {

    /** The peer's uid; absent if the kernel could not tell (then shared memory is refused). */
    public static final Attributes.Key<Integer> KEY = Attributes.Key.create("fovea.peer-uid");

    private static final Logger log = Logger.getLogger(PeerUid.class.getName());

    private PeerUid() {}

    /** Plaintext server credentials that add {@link #KEY} to every connection's attributes. */
    static ServerCredentials plaintextCredentials() {
        return InternalNettyServerCredentials.create(new Negotiator(InternalProtocolNegotiators.serverPlaintext()));
    }

    private static final class Negotiator implements InternalProtocolNegotiator.ProtocolNegotiator {
        private final InternalProtocolNegotiator.ProtocolNegotiator plaintext;

        Negotiator(InternalProtocolNegotiator.ProtocolNegotiator plaintext) {
            this.plaintext = plaintext;
        }

        @Override
        public AsciiString scheme() {
            return plaintext.scheme();
        }

        @Override
        public ChannelHandler newHandler(GrpcHttp2ConnectionHandler grpcHandler) {
            return new ReadUid(plaintext.newHandler(grpcHandler), grpcHandler);
        }

        @Override
        public void close() {
            plaintext.close();
        }
    }

    /** The first negotiation step: reads the uid, then replaces itself with the plaintext steps. */
    private static final class ReadUid extends InternalProtocolNegotiators.ProtocolNegotiationHandler {

        ReadUid(ChannelHandler next, GrpcHttp2ConnectionHandler grpcHandler) {
            super(next, "fovea-peer-uid", grpcHandler.getNegotiationLogger());
        }

        @Override
        protected void protocolNegotiationEventTriggered(ChannelHandlerContext ctx) {
            if (ctx.channel() instanceof EpollDomainSocketChannel socket) {
                try {
                    int uid = socket.peerCredentials().uid();
                    ProtocolNegotiationEvent event = getProtocolNegotiationEvent();
                    replaceProtocolNegotiationEvent(InternalProtocolNegotiationEvent.withAttributes(event,
                            InternalProtocolNegotiationEvent.getAttributes(event).toBuilder().set(KEY, uid).build()));
                } catch (IOException | RuntimeException e) {
                    log.log(Level.WARNING, "could not read the Unix socket peer's credentials; its calls may not "
                            + "use shared memory", e);
                }
            }
            fireProtocolNegotiationEvent(ctx);
        }
    }
}

package dev.builderd.storage.core.error;

import java.util.Optional;

/**
 * The request needs something local to another node: a build's workspace and temp directories
 * exist only on the node that created it. Names that node and, when it advertised one, the URL
 * to send the request to instead.
 */
public final class MisdirectedException extends StorageException {

    private final String hostNode;
    private final Optional<String> hostUrl;

    public MisdirectedException(String message, String hostNode, Optional<String> hostUrl) {
        super(message);
        this.hostNode = hostNode;
        this.hostUrl = hostUrl;
    }

    /** The node that has what the request needs. */
    public String hostNode() {
        return hostNode;
    }

    /** Where that node's API is, if it advertised it. */
    public Optional<String> hostUrl() {
        return hostUrl;
    }
}

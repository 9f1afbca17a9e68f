package dev.builderd.storage.core.metadata;

import java.util.Optional;
import org.jdbi.v3.core.Handle;

/** The {@code nodes} table: each node's name and the URL its API is reached at. */
public final class NodeRows {

    private NodeRows() {
    }

    /** Records (or replaces) where {@code node} is reached. */
    public static void advertise(Handle h, String node, String url, long nowMillis) {
        h.createUpdate("""
                INSERT INTO nodes (node, advertise_url, started_at) VALUES (:node, :url, :now)
                ON CONFLICT (node) DO UPDATE SET advertise_url = EXCLUDED.advertise_url, started_at = EXCLUDED.started_at
                """).bind("node", node).bind("url", url).bind("now", nowMillis).execute();
    }

    /** The nodes other than {@code node} that ever advertised themselves here, by name. */
    public static java.util.List<String> others(Handle h, String node) {
        return h.createQuery("SELECT node FROM nodes WHERE node <> :node ORDER BY node").bind("node", node).mapTo(String.class).list();
    }

    /** Where {@code node} said it is reached, if it did. */
    public static Optional<String> urlOf(Handle h, String node) {
        return h.createQuery("SELECT advertise_url FROM nodes WHERE node = :node").bind("node", node).mapTo(String.class).findOne();
    }
}

package dev.builderd.storage.testing;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * What the real-server fixtures ({@link PostgresServer}, {@link S3ProxyServer},
 * {@link AzuriteServer}, {@link CephServer}) have in common besides {@link SharedServer}: free
 * ports, server processes writing to a log file, waiting for an HTTP answer, reading logs for
 * error messages, and cleaning up on the way out.
 */
final class ServerFiles {

    private ServerFiles() {
    }

    /** Runs {@code stop} when the JVM exits, in a thread named {@code threadName}. */
    static void stopAtExit(String threadName, Runnable stop) {
        Runtime.getRuntime().addShutdownHook(new Thread(stop, threadName));
    }

    /**
     * A port free on {@code host} right now. Another process may take it before the server binds
     * it, so callers try again with a new port when the server says it is in use.
     */
    static int freePort(String host) {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getByName(host))) {
            return socket.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot find a free port on " + host, e);
        }
    }

    /**
     * Starts a long-running server process with its output (stdout and stderr) appended to
     * {@code logFile} (a file, not a pipe: a full pipe would stall the server) and no input.
     */
    static Process startLogged(ProcessBuilder builder, Path logFile) throws IOException {
        return builder
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile()))
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .start();
    }

    /**
     * Polls with {@code probe} until the server gives any HTTP answer (a 4xx too: it is up), and
     * returns true; returns false when the process dies or {@code deadline} passes first.
     */
    static boolean awaitHttpAnswer(Process process, HttpClient http, HttpRequest probe, Duration deadline, Duration pause)
            throws InterruptedException {
        long end = System.nanoTime() + deadline.toNanos();
        while (System.nanoTime() < end) {
            if (!process.isAlive()) {
                return false;
            }
            try {
                http.send(probe, HttpResponse.BodyHandlers.discarding());
                return true;
            } catch (IOException e) {
                // not listening yet
            }
            process.waitFor(pause.toMillis(), TimeUnit.MILLISECONDS);
        }
        return false;
    }

    /** The file's text, or a note saying why it cannot be read (for error messages). */
    static String readQuietly(Path file) {
        try {
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "(cannot read " + file + ": " + e.getMessage() + ")";
        }
    }

    /** Whether the file exists and contains any of {@code texts}. */
    static boolean mentions(Path file, String... texts) {
        String content;
        try {
            content = Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return false;
        }
        for (String text : texts) {
            if (content.contains(text)) {
                return true;
            }
        }
        return false;
    }

    /** {@code "\nlast lines of FILE:\n"} and its last {@code count} lines, to append to an error message. */
    static String tail(Path file, int count) {
        try {
            List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
            return "\nlast lines of " + file + ":\n" + String.join("\n", lines.subList(Math.max(0, lines.size() - count), lines.size()));
        } catch (IOException e) {
            return " (no log: " + e.getMessage() + ")";
        }
    }

    /**
     * Deletes {@code dir} and everything in it, if it exists; on failure says so on stderr
     * (prefixed with {@code owner}) instead of throwing, as this runs on the way out.
     */
    static void deleteQuietly(Path dir, String owner) {
        if (!Files.exists(dir)) {
            return;
        }
        try {
            Files.walkFileTree(dir, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                    Files.deleteIfExists(file);
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult postVisitDirectory(Path d, IOException e) throws IOException {
                    Files.deleteIfExists(d);
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException e) {
            System.err.println(owner + ": cannot delete " + dir + ": " + e.getMessage());
        }
    }
}

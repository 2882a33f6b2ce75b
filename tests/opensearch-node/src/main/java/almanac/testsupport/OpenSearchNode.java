package almanac.testsupport;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;

import org.opensearch.analysis.common.CommonAnalysisPlugin;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;

/**
 * Starts one real OpenSearch 2.19.6 node in this JVM, for almanac's integration tests.
 *
 * <p>Why it exists: the test machines reach Maven Central but have no Docker and cannot
 * download the OpenSearch tarball, so the node is assembled from the published jars. The
 * distribution's launcher ({@code Bootstrap}) is not used: it installs a security manager,
 * checks for jar hell and needs a full install layout. {@link Node}'s protected constructor
 * takes the plugin classes directly, which is how OpenSearch's own {@code MockNode} does it.
 *
 * <p>Usage: {@code OpenSearchNode <home-dir> <http-port> <transport-port> [key=value ...]}.
 * Each {@code key=value} is an OpenSearch setting that overrides the defaults below, e.g.
 * {@code node.attr.box_type=hot}. The node runs until the JVM gets SIGTERM/SIGINT.
 */
public final class OpenSearchNode {

    /** Exposes {@link Node}'s protected constructor, which accepts classpath plugins. */
    static final class EmbeddedNode extends Node {
        EmbeddedNode(Environment environment, List<Class<? extends Plugin>> plugins) {
            super(environment, plugins, true);
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: OpenSearchNode <home-dir> <http-port> <transport-port> [key=value ...]");
            System.exit(2);
        }
        Path home = Paths.get(args[0]).toAbsolutePath();
        // The plugin service scans these; empty directories mean "nothing beyond the classpath".
        for (String dir : List.of("config", "data", "logs", "modules", "plugins")) {
            Files.createDirectories(home.resolve(dir));
        }

        Settings.Builder settings = Settings.builder()
            .put("cluster.name", "almanac-test")
            .put("node.name", "almanac-test-node")
            .put("path.home", home.toString())
            .put("path.data", home.resolve("data").toString())
            .put("path.logs", home.resolve("logs").toString())
            .put("network.host", "127.0.0.1")
            .put("http.port", args[1])
            .put("transport.port", args[2])
            .put("http.type", "netty4")
            .put("transport.type", "netty4")
            .put("discovery.type", "single-node")
            // Log-retention tests move indices to the warm tier with
            // index.routing.allocation.require.box_type=warm; this node must satisfy it.
            .put("node.attr.box_type", "warm")
            // Test machines have small or nearly full disks; watermarks must not block writes.
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            .put("bootstrap.memory_lock", false);
        for (int i = 3; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            if (eq <= 0) {
                System.err.println("not a key=value setting: " + args[i]);
                System.exit(2);
            }
            settings.put(args[i].substring(0, eq), args[i].substring(eq + 1));
        }

        Environment environment = InternalSettingsPreparer.prepareEnvironment(
            settings.build(), Collections.emptyMap(), home.resolve("config"), () -> "almanac-test-node");
        Node node = new EmbeddedNode(environment, List.of(Netty4Plugin.class, CommonAnalysisPlugin.class));

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                stopped.countDown();
            }
        }, "opensearch-node-shutdown"));

        try {
            node.start();
        } catch (Throwable e) {
            // e.g. a port taken meanwhile: exit 1 at once, the harness retries with other ports.
            e.printStackTrace();
            System.exit(1);
        }
        System.out.println("almanac opensearch node started: http://127.0.0.1:" + args[1]);
        stopped.await();
    }
}

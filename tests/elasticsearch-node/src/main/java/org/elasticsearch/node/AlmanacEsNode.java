package org.elasticsearch.node;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.plugins.AlmanacClasspathPluginsService;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.plugins.PluginsService;
import org.elasticsearch.transport.netty4.Netty4Plugin;
import org.elasticsearch.xpack.core.XPackPlugin;

import almanac.testsupport.AlmanacEsPlugin;

/**
 * Starts one real Elasticsearch 8.15 node in this JVM, for almanac's integration tests.
 *
 * <p>Why it exists: the test machines reach Maven Central but have no Docker and cannot
 * download the Elasticsearch tarball, so the node is assembled from the published jars. 8.x
 * has no public constructor taking plugin classes; this class sits in
 * {@code org.elasticsearch.node} to call the package-private
 * {@code new Node(NodeConstruction.prepareConstruction(env, provider, true))} with a
 * {@link NodeServiceProvider} whose plugins service loads only the class-path plugins below
 * (the approach of the ES test framework's MockNode). Plugins: Netty4 (HTTP + transport),
 * x-pack-core (data tiers and their allocation decider, license, ...), and
 * {@link AlmanacEsPlugin} (GET /, 0 replicas by default).
 *
 * <p>Usage: {@code AlmanacEsNode <home-dir> <http-port> <transport-port> [key=value ...]}.
 * Each {@code key=value} is a node setting that overrides the defaults below, e.g.
 * {@code node.attr.box_type=hot} or {@code node.roles=data_warm}. A value of {@code -} removes
 * a default (e.g. {@code discovery.type=-} for a multi-node cluster). The node runs until the
 * JVM gets SIGTERM/SIGINT.
 */
public final class AlmanacEsNode {

    static final List<Class<? extends Plugin>> PLUGINS = List.of(Netty4Plugin.class, XPackPlugin.class, AlmanacEsPlugin.class);

    /** Hands Node the class-path-only plugins service; everything else is the stock provider. */
    static final class ClasspathServiceProvider extends NodeServiceProvider {
        private final Collection<Class<? extends Plugin>> plugins;

        ClasspathServiceProvider(Collection<Class<? extends Plugin>> plugins) {
            this.plugins = plugins;
        }

        @Override
        PluginsService newPluginService(Environment environment, Settings settings) {
            return new AlmanacClasspathPluginsService(settings, environment, plugins);
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: AlmanacEsNode <home-dir> <http-port> <transport-port> [key=value ...]");
            System.exit(2);
        }
        Path home = Paths.get(args[0]).toAbsolutePath();
        // The plugins service scans modules/ and plugins/; empty means "only the class path".
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
            .put("discovery.type", "single-node")
            // Log-retention tests move indices with index.routing.allocation.require.box_type=warm;
            // the single node must satisfy it (same default as the OpenSearch test node).
            .put("node.attr.box_type", "warm")
            // Test machines have small or nearly full disks; watermarks must not block writes.
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            .put("bootstrap.memory_lock", false)
            // No machine learning, security, or monitoring code is loaded; keep x-pack quiet.
            .put("xpack.ml.enabled", false)
            .put("xpack.security.enabled", false)
            .put("action.destructive_requires_name", false);
        for (int i = 3; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            if (eq <= 0) {
                System.err.println("not a key=value setting: " + args[i]);
                System.exit(2);
            }
            String key = args[i].substring(0, eq);
            String value = args[i].substring(eq + 1);
            if (value.equals("-")) {
                settings.remove(key);
            } else if (key.equals("node.roles") || key.equals("discovery.seed_hosts") || key.equals("cluster.initial_master_nodes")) {
                settings.putList(key, value.isEmpty() ? List.of() : List.of(value.split(",")));
            } else {
                settings.put(key, value);
            }
        }

        LogConfigurator.loadLog4jPlugins();
        LogConfigurator.configureESLogging();

        Settings built = settings.build();
        String nodeName = built.get("node.name");
        Environment environment = InternalSettingsPreparer.prepareEnvironment(built, Map.of(), home.resolve("config"), () -> nodeName);
        LogConfigurator.setNodeName(nodeName);
        Node node = new Node(NodeConstruction.prepareConstruction(environment, new ClasspathServiceProvider(PLUGINS), true));

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.prepareForClose();
                node.close();
                node.awaitClose(20, TimeUnit.SECONDS);
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                stopped.countDown();
            }
        }, "elasticsearch-node-shutdown"));

        try {
            node.start();
        } catch (Throwable e) {
            // e.g. a port taken meanwhile: exit 1 at once, the harness retries with other ports.
            e.printStackTrace();
            System.exit(1);
        }
        System.out.println("almanac elasticsearch node started: http://127.0.0.1:" + args[1]);
        stopped.await();
    }
}

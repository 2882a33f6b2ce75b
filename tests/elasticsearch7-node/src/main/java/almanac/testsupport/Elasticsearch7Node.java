package almanac.testsupport;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import java.util.function.Supplier;

import org.elasticsearch.client.Client;
import org.elasticsearch.cluster.metadata.IndexMetadata;
import org.elasticsearch.cluster.metadata.IndexNameExpressionResolver;
import org.elasticsearch.cluster.node.DiscoveryNodes;
import org.elasticsearch.cluster.service.ClusterService;
import org.elasticsearch.common.io.stream.NamedWriteableRegistry;
import org.elasticsearch.common.settings.ClusterSettings;
import org.elasticsearch.common.settings.IndexScopedSettings;
import org.elasticsearch.common.settings.SettingsFilter;
import org.elasticsearch.env.NodeEnvironment;
import org.elasticsearch.plugins.ActionPlugin;
import org.elasticsearch.repositories.RepositoriesService;
import org.elasticsearch.rest.RestController;
import org.elasticsearch.rest.RestHandler;
import org.elasticsearch.script.ScriptService;
import org.elasticsearch.threadpool.ThreadPool;
import org.elasticsearch.watcher.ResourceWatcherService;
import org.elasticsearch.xcontent.NamedXContentRegistry;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.index.mapper.DataStreamTimestampFieldMapper;
import org.elasticsearch.index.mapper.MetadataFieldMapper;
import org.elasticsearch.index.shard.IndexSettingProvider;
import org.elasticsearch.plugins.MapperPlugin;
import org.elasticsearch.node.InternalSettingsPreparer;
import org.elasticsearch.node.Node;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.transport.Netty4Plugin;

/**
 * Starts one real Elasticsearch 7.17 node in this JVM, for almanac's integration tests.
 *
 * <p>Why it exists: the test machines reach Maven Central but have no Docker and cannot
 * download the Elasticsearch tarball, so the node is assembled from the published jars.
 * {@link Node}'s protected constructor takes class-path plugin classes (as for OpenSearch 2.x).
 * 7.17 keeps {@code GET /} in the server jar, so only Netty4 and {@link AlmanacEs7Plugin} are
 * loaded. No x-pack: no data tier allocation decider, no ILM, no security.
 *
 * <p>Usage: {@code Elasticsearch7Node <home-dir> <http-port> <transport-port> [key=value ...]}.
 * Each {@code key=value} is a node setting that overrides the defaults below; a value of
 * {@code -} removes a default. The node runs until the JVM gets SIGTERM/SIGINT.
 */
public final class Elasticsearch7Node {

    /** Exposes {@link Node}'s protected constructor, which accepts class-path plugins. */
    static final class EmbeddedNode extends Node {
        EmbeddedNode(Environment environment, Collection<Class<? extends Plugin>> plugins) {
            super(environment, plugins, true);
        }
    }

    /**
     * What the Maven-Central-only 7.17 node lacks for almanac's tests.
     * <ul>
     *   <li>The {@code _data_stream_timestamp} metadata mapper (registered in 7.x by x-pack's
     *       unpublished data-streams plugin): without it a template with {@code data_stream: {}}
     *       is refused ("[index_template] unknown field [data_stream]").</li>
     *   <li>{@code GET|DELETE /_data_stream/<name>}: see {@link DataStreamRest7}.</li>
     *   <li>New indices default to 0 replicas (ES has no cluster.default_number_of_replicas): the
     *       lowest-precedence index setting default; index templates and create requests override it.</li>
     * </ul>
     */
    public static final class AlmanacEs7Plugin extends Plugin implements MapperPlugin, ActionPlugin {
        private volatile ClusterService clusterService;

        @Override
        public Collection<Object> createComponents(Client client, ClusterService clusterService, ThreadPool threadPool,
                                                   ResourceWatcherService resourceWatcherService, ScriptService scriptService,
                                                   NamedXContentRegistry xContentRegistry, Environment environment,
                                                   NodeEnvironment nodeEnvironment, NamedWriteableRegistry namedWriteableRegistry,
                                                   IndexNameExpressionResolver indexNameExpressionResolver,
                                                   Supplier<RepositoriesService> repositoriesServiceSupplier) {
            this.clusterService = clusterService;
            return List.of();
        }

        @Override
        public List<RestHandler> getRestHandlers(Settings settings, RestController restController, ClusterSettings clusterSettings,
                                                 IndexScopedSettings indexScopedSettings, SettingsFilter settingsFilter,
                                                 IndexNameExpressionResolver indexNameExpressionResolver,
                                                 Supplier<DiscoveryNodes> nodesInCluster) {
            return List.of(new DataStreamRest7(() -> clusterService, indexNameExpressionResolver));
        }

        @Override
        public Map<String, MetadataFieldMapper.TypeParser> getMetadataMappers() {
            return Map.of(DataStreamTimestampFieldMapper.NAME, DataStreamTimestampFieldMapper.PARSER);
        }

        @Override
        public Collection<IndexSettingProvider> getAdditionalIndexSettingProviders() {
            return List.of(new IndexSettingProvider() {
                @Override
                public Settings getAdditionalIndexSettings(String indexName, boolean isDataStreamIndex, Settings templateAndRequestSettings) {
                    if (templateAndRequestSettings.hasValue(IndexMetadata.SETTING_NUMBER_OF_REPLICAS)
                        || templateAndRequestSettings.hasValue(IndexMetadata.SETTING_AUTO_EXPAND_REPLICAS)) {
                        return Settings.EMPTY;
                    }
                    return Settings.builder().put(IndexMetadata.SETTING_NUMBER_OF_REPLICAS, 0).build();
                }
            });
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: Elasticsearch7Node <home-dir> <http-port> <transport-port> [key=value ...]");
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
            .put("http.type", "netty4")
            .put("transport.type", "netty4")
            .put("discovery.type", "single-node")
            // Log-retention tests move indices with index.routing.allocation.require.box_type=warm;
            // the single node must satisfy it (same default as the OpenSearch test node).
            .put("node.attr.box_type", "warm")
            // Test machines have small or nearly full disks; watermarks must not block writes.
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            .put("bootstrap.memory_lock", false)
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

        Settings built = settings.build();
        String nodeName = built.get("node.name");
        Environment environment = InternalSettingsPreparer.prepareEnvironment(built, Map.of(), home.resolve("config"), () -> nodeName);
        Node node = new EmbeddedNode(environment, List.of(Netty4Plugin.class, AlmanacEs7Plugin.class));

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                node.awaitClose(20, TimeUnit.SECONDS);
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                stopped.countDown();
            }
        }, "elasticsearch7-node-shutdown"));

        try {
            node.start();
        } catch (Throwable e) {
            // e.g. a port taken meanwhile: exit 1 at once, the harness retries with other ports.
            e.printStackTrace();
            System.exit(1);
        }
        System.out.println("almanac elasticsearch 7 node started: http://127.0.0.1:" + args[1]);
        stopped.await();
    }
}

package org.elasticsearch.plugins;

import java.lang.reflect.Constructor;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.elasticsearch.Build;
import org.elasticsearch.action.admin.cluster.node.info.PluginsAndModules;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.plugins.spi.SPIClassIterator;

/**
 * A {@link PluginsService} that loads exactly the given plugin classes from the class path
 * (no modules/ or plugins/ directories, no module layers, no class loader per plugin).
 *
 * <p>It lives in {@code org.elasticsearch.plugins} for the package-private helpers
 * ({@code loadPlugin}, {@code loadExtensions}, {@code createExtension}, {@code LoadedPlugin}).
 *
 * <p>Why {@link #loadServiceProviders} is overridden: the stock implementation asks every
 * plugin's class loader for {@code META-INF/services} entries. Here every plugin shares the
 * application class loader, so each service class would be found once per plugin and
 * instantiated several times (with x-pack-core: "Duplicate key ml_config_version" at start).
 * This version instantiates each provider class once, handing it the plugin it asks for in a
 * one-argument constructor (or skips it when no loaded plugin matches).
 */
public final class AlmanacClasspathPluginsService extends PluginsService {

    private final List<LoadedPlugin> loaded;

    public AlmanacClasspathPluginsService(Settings settings, Environment environment, Collection<Class<? extends Plugin>> pluginClasses) {
        // The directories exist and are empty: the parent constructor finds no bundles in them.
        super(settings, environment.configFile(), environment.modulesFile(), environment.pluginsFile());
        List<LoadedPlugin> plugins = new ArrayList<>();
        for (Class<? extends Plugin> pluginClass : pluginClasses) {
            Plugin instance = loadPlugin(pluginClass, settings, environment.configFile());
            PluginDescriptor descriptor = new PluginDescriptor(
                pluginClass.getName(),
                "classpath plugin (almanac test node)",
                "NA",
                Build.current().version(),
                Integer.toString(Runtime.version().feature()),
                pluginClass.getName(),
                null,
                List.of(),
                false,
                false,
                false,
                false
            );
            plugins.add(new LoadedPlugin(descriptor, instance, pluginClass.getClassLoader(), ModuleLayer.boot()));
        }
        loadExtensions(plugins);
        this.loaded = List.copyOf(plugins);
    }

    @Override
    protected List<LoadedPlugin> plugins() {
        return loaded;
    }

    @Override
    public PluginsAndModules info() {
        return new PluginsAndModules(loaded.stream().map(LoadedPlugin::descriptor).map(PluginRuntimeInfo::new).toList(), List.of());
    }

    @Override
    protected void addServerExportsService(Map<String, List<org.elasticsearch.jdk.ModuleQualifiedExportsService>> qualifiedExports) {
        // Nothing runs as a module here.
    }

    @Override
    public <T> List<? extends T> loadServiceProviders(Class<T> service) {
        List<Class<? extends T>> candidates = new ArrayList<>();
        SPIClassIterator.get(service, AlmanacClasspathPluginsService.class.getClassLoader()).forEachRemaining(candidates::add);
        Map<Class<?>, T> created = new LinkedHashMap<>();
        for (LoadedPlugin lp : loaded) {
            Plugin plugin = lp.instance();
            for (Class<? extends T> candidate : candidates) {
                if (created.containsKey(candidate) || !acceptsPlugin(candidate, plugin)) {
                    continue;
                }
                created.put(candidate, createExtension(candidate, service, plugin));
            }
        }
        return List.copyOf(created.values());
    }

    /** False when the class has a one-argument constructor that takes another plugin type. */
    private static boolean acceptsPlugin(Class<?> candidate, Plugin plugin) {
        for (Constructor<?> c : candidate.getConstructors()) {
            if (c.getParameterCount() == 1 && c.getParameterTypes()[0] != plugin.getClass()) {
                return false;
            }
        }
        return true;
    }
}

package dev.builderd.storage.core.fs;

import dev.builderd.storage.core.Layout;
import dev.builderd.storage.core.model.TenantId;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * The specification's SELinux recipe for one tenant, for the operator of a host that enforces
 * SELinux to run: a file-context rule for the tenant's tree in every category root, then a
 * relabelling of each tree. The service runs neither command itself (it needs the policy tools
 * and root, and a policy that defines the type).
 */
public final class SelinuxCommands {

    /** The type of the specification's example. */
    public static final String DEFAULT_TYPE = "builderd_tenant_t";

    private static final Pattern TYPE = Pattern.compile("[a-z][a-z0-9_]{0,62}_t");
    /** Characters with a meaning in the regular expressions of file-context rules. */
    private static final Pattern REGEX_SPECIAL = Pattern.compile("[\\\\.^$|?*+()\\[\\]{}]");

    private SelinuxCommands() {
    }

    /**
     * The commands, as lines of POSIX shell (every path quoted): {@code semanage fcontext -a -t
     * TYPE 'ROOT/tenants/TENANT(/.*)?'} for each category root holding tenant trees, then
     * {@code restorecon -R ROOT/tenants/TENANT} for each.
     *
     * @param type an SELinux type name ending in {@code _t}
     * @throws IllegalArgumentException if {@code type} is not one
     */
    public static List<String> forTenant(Layout layout, TenantId tenant, String type) {
        if (!TYPE.matcher(type).matches()) {
            throw new IllegalArgumentException("'" + type + "' is not an SELinux type name (lowercase letters, digits and '_',"
                    + " ending in _t, such as " + DEFAULT_TYPE + ")");
        }
        List<Path> trees = layout.tenantRoots().stream().map(root -> layout.tenantDirectory(root, tenant)).toList();
        List<String> commands = new ArrayList<>();
        for (Path tree : trees) {
            String pattern = REGEX_SPECIAL.matcher(tree.toString()).replaceAll("\\\\$0") + "(/.*)?";
            commands.add("semanage fcontext -a -t " + type + " " + shellQuoted(pattern));
        }
        for (Path tree : trees) {
            commands.add("restorecon -R " + shellQuoted(tree.toString()));
        }
        return commands;
    }

    private static String shellQuoted(String text) {
        return "'" + text.replace("'", "'\\''") + "'";
    }
}

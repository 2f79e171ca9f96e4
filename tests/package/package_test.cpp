// The Debian package (docs/packaging.md): tools/package/build-deb builds it
// from this very build tree into a temporary folder (once per test process;
// CTest runs each test in a process of its own), `dpkg-deb -x` unpacks it
// into a scratch root, and the tests check what it holds: the file names,
// modes and owners, the control fields and conffiles, the packaged config,
// that the programs run, lintian, the systemd unit (systemd-analyze verify
// and security), the logrotate snippet (logrotate -d) and the alert rules
// (promtool check rules, promtool test rules). One test installs, upgrades,
// removes and purges it with dpkg in a copy-on-write chroot of this machine
// (root only; tests/package/install-in-chroot.sh). Nothing needs the network.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace {

const fs::path source_dir{MEETINGD_SOURCE_DIR};
const fs::path binary_dir{MEETINGD_BINARY_DIR};

std::string quote(const fs::path& p) {
  std::string out = "'";
  for (char c : p.string())
    out += c == '\'' ? std::string{"'\\''"} : std::string(1, c);
  return out + "'";
}

struct ran {
  int code = -1;
  std::string out; // standard output and error
};

/// Runs a shell command; its standard error goes with its output.
ran sh(const std::string& command) {
  ran r;
  FILE* pipe = ::popen(("{ " + command + "\n} 2>&1").c_str(), "r");
  if (pipe == nullptr)
    return r;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;)
    r.out.append(buf, n);
  int status = ::pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

std::string read_file(const fs::path& p) {
  std::ifstream in{p, std::ios::binary};
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  return lines;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
    s.pop_back();
  return s;
}

/// The process's scratch folder, removed when the tests end (failed or not).
fs::path scratch_dir() {
  static const fs::path dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string{tmp != nullptr && *tmp != '\0' ? tmp : "/tmp"}
      + "/meetingd-package-test.XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr)
      return fs::path{};
    return fs::path{pattern};
  }();
  return dir;
}

class remove_scratch : public ::testing::Environment {
public:
  void TearDown() override {
    auto dir = scratch_dir();
    std::error_code ec;
    if (!dir.empty())
      fs::remove_all(dir, ec);
  }
};
[[maybe_unused]] auto* const scratch_cleanup
  = ::testing::AddGlobalTestEnvironment(new remove_scratch);

/// The package, built and unpacked once per process.
struct deb_package {
  std::string error; // why there is none
  fs::path deb;
  fs::path root;    // dpkg-deb -x
  fs::path control; // dpkg-deb -e
};

const deb_package& built() {
  static const deb_package pkg = [] {
    deb_package p;
    auto dir = scratch_dir();
    if (dir.empty()) {
      p.error = "cannot make a scratch folder";
      return p;
    }
    // gzip: xz takes seconds longer on the test build's large binaries.
    auto r = sh("DEB_COMPRESSION=gzip " + quote(source_dir / "tools/package/build-deb") + " "
                + quote(binary_dir) + " " + quote(dir / "dist"));
    if (r.code != 0) {
      p.error = "tools/package/build-deb failed (" + std::to_string(r.code) + "):\n" + r.out;
      return p;
    }
    auto out = lines_of(r.out);
    p.deb = out.empty() ? fs::path{} : fs::path{out.back()};
    p.root = dir / "root";
    p.control = dir / "control";
    auto x = sh("dpkg-deb -x " + quote(p.deb) + " " + quote(p.root) + " && dpkg-deb -e "
                + quote(p.deb) + " " + quote(p.control));
    if (x.code != 0)
      p.error = "cannot unpack " + p.deb.string() + ":\n" + x.out;
    return p;
  }();
  return pkg;
}

#define REQUIRE_PACKAGE()                                                                          \
  const deb_package& pkg = built();                                                                \
  ASSERT_TRUE(pkg.error.empty()) << pkg.error

std::string architecture() {
  return trim(sh("dpkg --print-architecture").out);
}

std::string field(const deb_package& pkg, const std::string& name) {
  return trim(sh("dpkg-deb -f " + quote(pkg.deb) + " " + name).out);
}

/// `dpkg-deb -c`: path ("./usr/bin/meetingd", directories with a trailing
/// slash) -> "mode owner/group".
std::map<std::string, std::string> contents(const deb_package& pkg) {
  std::map<std::string, std::string> files;
  for (auto& line : lines_of(sh("dpkg-deb -c " + quote(pkg.deb)).out)) {
    std::istringstream in{line};
    std::string mode, owner, size, date, time, path;
    in >> mode >> owner >> size >> date >> time >> path;
    if (!path.empty())
      files[path] = mode + " " + owner;
  }
  return files;
}

/// The unit with ExecStart on the unpacked binary, so that systemd-analyze
/// checks the packaged unit against the packaged program without installing
/// it (the only line that differs; the chroot test checks the unit in place).
fs::path unit_for_the_unpacked_tree(const deb_package& pkg) {
  auto unit = read_file(pkg.root / "usr/lib/systemd/system/meetingd.service");
  const std::string exec = "\nExecStart=/usr/bin/meetingd ";
  auto at = unit.find(exec);
  if (at == std::string::npos)
    return {};
  unit.replace(at, exec.size(), "\nExecStart=" + (pkg.root / "usr/bin/meetingd").string() + " ");
  auto dir = scratch_dir() / "unit";
  fs::create_directories(dir);
  std::ofstream{dir / "meetingd.service"} << unit;
  return dir / "meetingd.service";
}

} // namespace

// CTest runs each case in a process of its own, and each builds the package
// once (about 5 s): the checks are few cases, each calling some of the
// functions below.

static void is_named_after_the_project_version_and_the_architecture(const deb_package& pkg) {
  EXPECT_EQ(pkg.deb.filename().string(),
            "meetingd_" MEETINGD_PROJECT_VERSION "_" + architecture() + ".deb");
  EXPECT_EQ(field(pkg, "Package"), "meetingd");
  EXPECT_EQ(field(pkg, "Version"), MEETINGD_PROJECT_VERSION);
  EXPECT_EQ(field(pkg, "Architecture"), architecture());
  EXPECT_NE(field(pkg, "Maintainer").find('@'), std::string::npos);
  EXPECT_EQ(field(pkg, "Section"), "net");
  EXPECT_GT(std::atoi(field(pkg, "Installed-Size").c_str()), 0);
  EXPECT_FALSE(field(pkg, "Description").empty());
  auto depends = field(pkg, "Depends");
  EXPECT_NE(depends.find("libc6 (>= "), std::string::npos) << depends;
  EXPECT_NE(depends.find("adduser"), std::string::npos) << depends;
}

static void depends_on_the_package_of_every_library_the_programs_load(const deb_package& pkg) {
  std::set<std::string> depends;
  std::istringstream in{field(pkg, "Depends")};
  for (std::string item; std::getline(in, item, ',');) {
    std::istringstream words{item};
    std::string name;
    words >> name;
    depends.insert(name);
  }
  // The libraries each program names (NEEDED), where ldd finds them; the
  // ones they load in turn are their own packages' dependencies.
  std::map<std::string, std::string> needed; // path -> the program needing it
  for (auto program : {"meetingd", "meetctl", "meetingd-copy-db"}) {
    auto path = pkg.root / "usr/bin" / program;
    auto ldd = sh("ldd " + quote(path));
    ASSERT_EQ(ldd.code, 0) << ldd.out;
    EXPECT_EQ(ldd.out.find("not found"), std::string::npos) << program << ":\n" << ldd.out;
    std::map<std::string, std::string> found; // soname -> path
    for (auto& line : lines_of(ldd.out)) {
      std::istringstream words{line};
      std::string soname, arrow, lib;
      if (words >> soname >> arrow >> lib && arrow == "=>")
        found[soname] = lib;
    }
    auto dynamic = sh("readelf -d " + quote(path));
    std::regex entry{"\\(NEEDED\\) +Shared library: \\[([^\\]]+)\\]"};
    for (auto it = std::sregex_iterator{dynamic.out.begin(), dynamic.out.end(), entry};
         it != std::sregex_iterator{}; ++it) {
      auto soname = (*it)[1].str();
      ASSERT_TRUE(found.count(soname) == 1) << program << " needs " << soname << "; ldd:\n"
                                            << ldd.out;
      needed[found[soname]] = program;
    }
  }
  ASSERT_FALSE(needed.empty());
  // dpkg knows a library by the path its package ships (usr-merge: /lib/...
  // or /usr/lib/...): ask for both, in one run (each takes a second).
  std::string paths;
  for (auto& [lib, program] : needed) {
    auto other = lib.rfind("/usr/", 0) == 0 ? lib.substr(4) : "/usr" + lib;
    paths += " " + quote(fs::path{lib}) + " " + quote(fs::path{other});
  }
  auto owners = sh("dpkg-query -S" + paths + " 2>/dev/null");
  std::map<std::string, std::string> owner; // path -> package
  for (auto& line : lines_of(owners.out)) {
    auto colon = line.find(": /");
    if (colon == std::string::npos || line.rfind("diversion", 0) == 0)
      continue;
    auto name = line.substr(0, colon);
    owner[line.substr(colon + 2)] = name.substr(0, name.find(':'));
  }
  // A package satisfies a dependency on its name or on what it Provides
  // (libspdlog1.10 provides libspdlog1.10-fmt9, the name its shlibs give).
  std::map<std::string, std::set<std::string>> names; // package -> its names
  std::string packages;
  for (auto& [path, name] : owner)
    packages += " " + name;
  auto provides = sh("dpkg-query -W -f='${Package} ${Provides}\\n'" + packages);
  for (auto& line : lines_of(provides.out)) {
    std::istringstream fields{line};
    std::string name, item;
    fields >> name;
    names[name].insert(name);
    while (std::getline(fields, item, ',')) { // "a (= 1.0), b"
      std::istringstream words{item};
      std::string provided;
      if (words >> provided)
        names[name].insert(provided);
    }
  }
  for (auto& [lib, program] : needed) {
    auto other = lib.rfind("/usr/", 0) == 0 ? lib.substr(4) : "/usr" + lib;
    auto name = owner.count(lib) == 1 ? owner[lib] : owner[other];
    ASSERT_FALSE(name.empty()) << lib << " belongs to no package:\n" << owners.out;
    bool named = false;
    for (auto& n : names[name])
      named = named || depends.count(n) == 1;
    EXPECT_TRUE(named) << program << " loads " << lib << " of " << name
                       << ", which Depends does not name: " << field(pkg, "Depends");
  }
}

TEST(package, is_named_described_and_depends_on_what_its_programs_load) {
  REQUIRE_PACKAGE();
  is_named_after_the_project_version_and_the_architecture(pkg);
  depends_on_the_package_of_every_library_the_programs_load(pkg);
}

static void holds_its_files_with_their_modes_and_checksums(const deb_package& pkg) {
  auto files = contents(pkg);
  const std::map<std::string, std::string> expected{
    {"./usr/bin/meetingd", "-rwxr-xr-x root/root"},
    {"./usr/bin/meetctl", "-rwxr-xr-x root/root"},
    {"./usr/bin/meetingd-copy-db", "-rwxr-xr-x root/root"},
    {"./usr/lib/systemd/system/meetingd.service", "-rw-r--r-- root/root"},
    {"./etc/meetingd/", "drwxr-xr-x root/root"},
    {"./etc/meetingd/meetingd.conf", "-rw-r--r-- root/root"},
    {"./etc/logrotate.d/meetingd", "-rw-r--r-- root/root"},
    {"./usr/share/meetingd/meetingd.env", "-rw-r--r-- root/root"},
    {"./usr/share/meetingd/prometheus/meetingd-alerts.yml", "-rw-r--r-- root/root"},
    {"./usr/share/meetingd/prometheus/meetingd-alerts.test.yml", "-rw-r--r-- root/root"},
    // The web console, with MQTT.js beside it (nothing from a CDN).
    {"./usr/share/meetingd/console/index.html", "-rw-r--r-- root/root"},
    {"./usr/share/meetingd/console/mqtt.min.js", "-rw-r--r-- root/root"},
    {"./usr/share/doc/meetingd/copyright", "-rw-r--r-- root/root"},
    {"./usr/share/doc/meetingd/changelog.gz", "-rw-r--r-- root/root"},
    {"./usr/share/doc/meetingd/README.md", "-rw-r--r-- root/root"},
    {"./usr/share/doc/meetingd/docs/operators-guide.md", "-rw-r--r-- root/root"},
    {"./usr/share/doc/meetingd/docs/packaging.md", "-rw-r--r-- root/root"},
    {"./usr/share/man/man8/meetingd.8.gz", "-rw-r--r-- root/root"},
    {"./usr/share/man/man8/meetingd-copy-db.8.gz", "-rw-r--r-- root/root"},
    {"./usr/share/man/man1/meetctl.1.gz", "-rw-r--r-- root/root"},
  };
  for (auto& [path, mode] : expected) {
    ASSERT_TRUE(files.count(path) == 1) << path << " is not in the package";
    EXPECT_EQ(files[path], mode) << path;
  }
  int regular = 0;
  for (auto& [path, mode] : files) {
    EXPECT_NE(mode.find(" root/root"), std::string::npos) << path << ": " << mode;
    EXPECT_TRUE(path.rfind("./usr/", 0) == 0 || path.rfind("./etc/", 0) == 0 || path == "./")
      << path
      << ": the package ships only /usr and /etc (the state and the logs are the "
         "node's, the secrets file the postinst's)";
    if (mode[0] == '-') {
      ++regular;
      bool exec = mode.rfind("-rwxr-xr-x", 0) == 0;
      EXPECT_EQ(exec, path.rfind("./usr/bin/", 0) == 0) << path << ": " << mode;
      EXPECT_FALSE(mode[5] == 'w' || mode[8] == 'w') << path << ": " << mode;
    }
  }
  // The control files: conffiles, maintainer scripts, md5sums of the rest.
  EXPECT_EQ(read_file(pkg.control / "conffiles"),
            "/etc/logrotate.d/meetingd\n/etc/meetingd/meetingd.conf\n");
  for (auto script : {"postinst", "prerm", "postrm"}) {
    EXPECT_EQ(fs::status(pkg.control / script).permissions(),
              fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec
                | fs::perms::others_read | fs::perms::others_exec)
      << script;
    auto syntax = sh("sh -n " + quote(pkg.control / script));
    EXPECT_EQ(syntax.code, 0) << script << ":\n" << syntax.out;
  }
  auto md5
    = sh("cd " + quote(pkg.root) + " && md5sum --check --quiet " + quote(pkg.control / "md5sums"));
  EXPECT_EQ(md5.code, 0) << md5.out;
  EXPECT_EQ(static_cast<int>(lines_of(read_file(pkg.control / "md5sums")).size()), regular - 2)
    << "md5sums lists every file but the two conffiles";
  // Stripped: no symbol table, no debug information.
  for (auto program : {"meetingd", "meetctl", "meetingd-copy-db"}) {
    auto sections = sh("readelf -S --wide " + quote(pkg.root / "usr/bin" / program));
    EXPECT_EQ(sections.code, 0) << sections.out;
    EXPECT_EQ(sections.out.find(".symtab"), std::string::npos) << program;
    EXPECT_EQ(sections.out.find(".debug_info"), std::string::npos) << program;
  }
  // The copyright file is machine-readable.
  auto copyright = read_file(pkg.root / "usr/share/doc/meetingd/copyright");
  EXPECT_EQ(copyright.rfind("Format: https://www.debian.org/doc/packaging-manuals/"
                            "copyright-format/1.0/\n",
                            0),
            0u);
  EXPECT_NE(copyright.find("\nLicense: Expat\n"), std::string::npos);
}

static void
config_is_the_source_config_with_the_database_in_the_state_directory(const deb_package& pkg) {
  auto packaged = read_file(pkg.root / "etc/meetingd/meetingd.conf");
  auto source = read_file(source_dir / "config/meetingd.conf");
  auto expected = std::regex_replace(source, std::regex{"\ndb = \"[^\"\n]*\"\n"},
                                     "\ndb = \"/var/lib/meetingd/meetingd.db\"\n");
  ASSERT_NE(expected, source) << "config/meetingd.conf has no db line";
  ASSERT_GE(packaged.size(), expected.size());
  auto header = packaged.substr(0, packaged.size() - expected.size());
  EXPECT_EQ(packaged.substr(header.size()), expected)
    << "the packaged config is config/meetingd.conf, but for its db line, after a header";
  for (auto& line : lines_of(header))
    EXPECT_EQ(line.rfind(';', 0), 0u) << "header line is not a comment: " << line;
}

static void programs_run_from_the_unpacked_tree(const deb_package& pkg) {
  const std::vector<std::pair<std::string, std::string>> programs{
    {"meetingd", "config-file"}, {"meetctl", "ping"}, {"meetingd-copy-db", "--from"}};
  for (auto& [program, mentions] : programs) {
    auto help = sh(quote(pkg.root / "usr/bin" / program) + " --help");
    EXPECT_EQ(help.code, 0) << program << " --help:\n" << help.out;
    EXPECT_NE(help.out.find(mentions), std::string::npos) << program << " --help:\n" << help.out;
  }
}

TEST(package, holds_its_files_config_and_programs) {
  REQUIRE_PACKAGE();
  holds_its_files_with_their_modes_and_checksums(pkg);
  config_is_the_source_config_with_the_database_in_the_state_directory(pkg);
  programs_run_from_the_unpacked_tree(pkg);
}

TEST(package, lintian_finds_no_errors) {
  REQUIRE_PACKAGE();
  auto lintian = sh("lintian --display-info --pedantic --tag-display-limit 0 " + quote(pkg.deb));
  std::cout << "lintian " << pkg.deb.filename().string() << " (exit " << lintian.code << "):\n"
            << lintian.out << std::flush;
  std::string errors;
  for (auto& line : lines_of(lintian.out))
    if (line.rfind("E: ", 0) == 0)
      errors += line + "\n";
  EXPECT_EQ(errors, "");
  EXPECT_EQ(lintian.code, 0) << lintian.out;
}

TEST(package, systemd_unit_verifies_and_is_sandboxed) {
  REQUIRE_PACKAGE();
  auto unit_text = read_file(pkg.root / "usr/lib/systemd/system/meetingd.service");
  for (auto line :
       {"Type=notify", "NotifyAccess=main", "WatchdogSec=30s",
        "ExecStart=/usr/bin/meetingd --config-file=/etc/meetingd/meetingd.conf",
        "ExecReload=/bin/kill -HUP $MAINPID", "EnvironmentFile=-/etc/meetingd/meetingd.env",
        "User=meetingd", "Group=meetingd", "StateDirectory=meetingd", "LogsDirectory=meetingd",
        "Restart=on-failure", "ProtectSystem=strict", "CapabilityBoundingSet=",
        "MemoryDenyWriteExecute=yes", "SystemCallFilter=@system-service", "UMask=0027"})
    EXPECT_NE(unit_text.find(std::string{"\n"} + line + "\n"), std::string::npos) << line;

  auto unit = unit_for_the_unpacked_tree(pkg);
  ASSERT_FALSE(unit.empty()) << "no ExecStart=/usr/bin/meetingd line";
  // man:meetingd(8) is looked up among the packaged man pages.
  auto verify
    = sh("MANPATH=" + quote(pkg.root / "usr/share/man") + " systemd-analyze verify " + quote(unit));
  EXPECT_EQ(verify.code, 0) << verify.out;
  EXPECT_EQ(verify.out, "") << "systemd-analyze verify has something to say";

  auto security = sh("systemd-analyze security --offline=true --no-pager " + quote(unit));
  std::cout << security.out << std::flush;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(security.out, m,
                                std::regex{"Overall exposure level for meetingd.service: "
                                           "([0-9]+\\.[0-9])"}))
    << security.out;
  // 1.0 when written (docs/packaging.md); 10 is a service without sandboxing.
  EXPECT_LE(std::stod(m[1]), 1.2) << "the unit lost some of its sandboxing";
}

static void logrotate_snippet_checks_out(const deb_package& pkg) {
  auto dir = scratch_dir() / "logrotate";
  fs::create_directories(dir / "log");
  auto snippet = pkg.root / "etc/logrotate.d/meetingd";
  auto text = read_file(snippet);
  for (auto line :
       {"/var/log/meetingd/*.log {", "    daily", "    rotate 14", "    compress",
        "    delaycompress", "    missingok", "    notifempty", "    create 0640 meetingd adm"})
    EXPECT_NE(text.find(std::string{"\n"} + line + "\n"), std::string::npos) << line;

  // logrotate wants the user meetingd, which the postinst makes: a passwd
  // file with it is mounted over /etc/passwd in a namespace of its own.
  // Where that is not allowed, a copy names the user running the test.
  std::ofstream{dir / "passwd"} << read_file("/etc/passwd")
                                << "meetingd:x:64999:64999::/var/lib/meetingd:/usr/sbin/nologin\n";
  auto as_installed = [&](const std::string& command) {
    auto r
      = sh("unshare --mount " + std::string{::geteuid() == 0 ? "" : "--map-root-user "} + "sh -c "
           + quote("mount --bind " + (dir / "passwd").string() + " /etc/passwd && " + command));
    if (r.code != 0 && r.out.find("unshare") != std::string::npos) {
      auto user = trim(sh("id -un").out);
      auto local = std::regex_replace(read_file(snippet), std::regex{"create 0640 meetingd "},
                                      "create 0640 " + user + " ");
      std::ofstream{dir / "as-user"} << local;
      auto swapped = command;
      swapped.replace(swapped.find(snippet.string()), snippet.string().size(),
                      (dir / "as-user").string());
      std::cout << "no mount namespace here (" << trim(r.out) << "): checking with user " << user
                << "\n";
      r = sh(swapped);
    }
    return r;
  };
  auto state = quote(dir / "state");
  auto debug = as_installed("logrotate -d -s " + state + " " + snippet.string());
  EXPECT_EQ(debug.code, 0) << debug.out;
  EXPECT_EQ(debug.out.find("error"), std::string::npos) << debug.out;
  EXPECT_NE(debug.out.find("rotating pattern: /var/log/meetingd/*.log  after 1 days "
                           "(14 rotations)"),
            std::string::npos)
    << debug.out;

  // Forced, on a copy pointing at a scratch log: what a rotation would do.
  auto copy = std::regex_replace(text, std::regex{"/var/log/meetingd/"}, (dir / "log/").string());
  std::ofstream{dir / "log/meetingd.log"} << "a line\n";
  std::ofstream{dir / "forced"} << copy;
  snippet = dir / "forced";
  auto forced = as_installed("logrotate -d -f -s " + state + " " + snippet.string());
  EXPECT_EQ(forced.code, 0) << forced.out;
  for (auto says :
       {std::string{"renaming "} + (dir / "log/meetingd.log").string() + " to "
          + (dir / "log/meetingd.log.1").string(),
        std::string{"creating new "} + (dir / "log/meetingd.log").string() + " mode = 0640",
        std::string{"running postrotate script"}})
    EXPECT_NE(forced.out.find(says), std::string::npos) << says << "\n" << forced.out;
}

static void alert_rules_check_and_pass_their_tests(const deb_package& pkg) {
  auto dir = pkg.root / "usr/share/meetingd/prometheus";
  auto check = sh("promtool check rules " + quote(dir / "meetingd-alerts.yml"));
  EXPECT_EQ(check.code, 0) << check.out;
  EXPECT_NE(check.out.find("SUCCESS"), std::string::npos) << check.out;
  auto test = sh("cd " + quote(dir) + " && promtool test rules meetingd-alerts.test.yml");
  EXPECT_EQ(test.code, 0) << test.out;
  EXPECT_NE(test.out.find("SUCCESS"), std::string::npos) << test.out;

  // Every alert has a case where it fires (and each its severity, summary
  // and description).
  auto rules = read_file(dir / "meetingd-alerts.yml");
  auto tests = read_file(dir / "meetingd-alerts.test.yml");
  std::regex alert{"- alert: (\\w+)"};
  int alerts = 0;
  for (auto it = std::sregex_iterator{rules.begin(), rules.end(), alert};
       it != std::sregex_iterator{}; ++it) {
    ++alerts;
    auto name = (*it)[1].str();
    std::regex fires{"alertname: " + name + "\n +exp_alerts:\n +- exp_labels: \\{severity: "};
    EXPECT_TRUE(std::regex_search(tests, fires)) << name << " is never shown to fire";
  }
  EXPECT_EQ(alerts, 8);
  for (auto name : {"MeetingdDown", "MeetingdNotReady", "MeetingdBrokerDisconnected",
                    "MeetingdCommitLatencyHigh", "MeetingdRtcFailures", "MeetingdServerErrors",
                    "MeetingdWebhooksGivenUp"})
    EXPECT_NE(rules.find(std::string{"- alert: "} + name + "\n"), std::string::npos) << name;
}

TEST(package, logrotate_snippet_and_alert_rules_check_out) {
  REQUIRE_PACKAGE();
  logrotate_snippet_checks_out(pkg);
  alert_rules_check_and_pass_their_tests(pkg);
}

TEST(package, installs_upgrades_removes_and_purges_in_a_chroot) {
  REQUIRE_PACKAGE();
  auto dir = scratch_dir() / "chroot";
  fs::create_directories(dir);
  auto r = sh("bash " + quote(source_dir / "tests/package/install-in-chroot.sh") + " "
              + quote(pkg.deb) + " " + quote(dir));
  std::cout << r.out << std::flush;
  if (r.code == 77)
    GTEST_SKIP() << trim(r.out);
  EXPECT_EQ(r.code, 0) << r.out;
}

#include "worker/data/cache_identity.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace ecps {
namespace {

// Shortest text that reads back to the same double, so two ratios that differ
// in any bit give different identities.
std::string Exact(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return ec == std::errc() ? std::string(buf, end) : absl::StrCat(v);
}

Status ReadAt(int fd, uint64_t offset, size_t n, std::vector<char>* buf, const std::string& path) {
  buf->resize(n);
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::pread(fd, buf->data() + got, n - got, static_cast<off_t>(offset + got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return IoError("cannot read '", path, "': ", std::strerror(errno));
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  buf->resize(got);
  return OkStatus();
}

StatusOr<InputFileIdentity> Identify(const std::string& role, const std::string& path) {
  InputFileIdentity id;
  id.role = role;
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(path, ec);
  id.path = ec ? path : abs.lexically_normal().string();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return NotFound("input file '", path, "' does not exist");
    return IoError("cannot open input file '", path, "': ", std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return IoError("cannot stat input file '", path, "': ", std::strerror(errno));
  }
  id.size = static_cast<uint64_t>(st.st_size);
  id.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  XXH3_state_t* h = XXH3_createState();
  XXH3_64bits_reset(h);
  std::vector<char> buf;
  Status s = ReadAt(fd, 0, std::min(id.size, kIdentityHashBytes), &buf, path);
  if (s.ok()) XXH3_64bits_update(h, buf.data(), buf.size());
  if (s.ok() && id.size > kIdentityHashBytes) {
    // The tail may overlap the head for files under 2 MiB; hashing the overlap
    // twice is harmless.
    const uint64_t tail = std::max(id.size - kIdentityHashBytes, kIdentityHashBytes);
    s = ReadAt(fd, tail, id.size - tail, &buf, path);
    if (s.ok()) XXH3_64bits_update(h, buf.data(), buf.size());
  }
  id.head_tail_hash = XXH3_64bits_digest(h);
  XXH3_freeState(h);
  ::close(fd);
  RETURN_IF_ERROR(s);
  return id;
}

// "key=value" lines -> ordered map (later keys win; none repeat in practice).
std::map<std::string, std::string> Parse(const std::string& text) {
  std::map<std::string, std::string> m;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    size_t eq = line.find('=');
    if (eq == absl::string_view::npos) {
      m[std::string(line)] = "";
    } else {
      m[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
    }
  }
  return m;
}

}  // namespace

std::string CacheIdentity::ToText() const {
  std::string s = absl::StrCat("identity_version=", kCacheIdentityVersion, "\n");
  for (const auto& [k, v] : options) absl::StrAppend(&s, k, "=", v, "\n");
  std::map<std::string, int> index;
  for (const InputFileIdentity& f : inputs) {
    const std::string key = absl::StrCat(f.role, "[", index[f.role]++, "]");
    absl::StrAppend(&s, key, "=", f.path, " size ", f.size, " mtime_ns ", f.mtime_ns,
                    " head_tail_xxh3 ", absl::Hex(f.head_tail_hash, absl::kZeroPad16), "\n");
  }
  for (const auto& [role, n] : index) absl::StrAppend(&s, role, "_files=", n, "\n");
  return s;
}

StatusOr<CacheIdentity> ComputeCacheIdentity(const PreprocessOptions& o) {
  CacheIdentity id;
  id.options.emplace_back("data.format", o.format);
  id.options.emplace_back("data.split", o.split);
  if (o.split == "ratio") {
    id.options.emplace_back("data.val_ratio", Exact(o.val_ratio));
    id.options.emplace_back("data.test_ratio", Exact(o.test_ratio));
  }
  id.options.emplace_back("data.min_count", absl::StrCat(o.min_count));
  id.options.emplace_back("data.vocabulary", o.vocabulary_from_train ? "train" : "all");
  // Only formats with values have the option, so the identities of Criteo and
  // Avazu caches stay those of caches built before it.
  if (o.format == "libsvm" || o.format == "libfm" || o.format == "libffm")
    id.options.emplace_back("data.feature_values", o.weight_values ? "weight" : "ignore");
  id.options.emplace_back("max_rows", absl::StrCat(o.max_rows));
  id.options.emplace_back("last_day_rows", absl::StrCat(o.last_day_rows));
  const std::pair<const char*, const std::vector<std::string>*> lists[] = {
      {"input", &o.inputs},
      {"train", &o.train_inputs},
      {"validation", &o.val_inputs},
      {"test", &o.test_inputs}};
  for (const auto& [role, paths] : lists) {
    for (const std::string& p : *paths) {
      ASSIGN_OR_RETURN(InputFileIdentity f, Identify(role, p));
      id.inputs.push_back(std::move(f));
    }
  }
  return id;
}

uint64_t CacheIdentityDigest(const std::string& identity_text) {
  return identity_text.empty() ? 0 : XXH3_64bits(identity_text.data(), identity_text.size());
}

std::string DescribeIdentityChange(const std::string& old_text, const std::string& new_text,
                                   int max_items) {
  const auto before = Parse(old_text), after = Parse(new_text);
  std::vector<std::string> items;
  auto describe = [&](const std::string& key, const std::string* a, const std::string* b) {
    // An input line "PATH size N mtime_ns M head_tail_xxh3 H" at the same
    // path: name only what differs ("test[0] /d/t.txt: size 10 -> 12").
    if (a && b && key.find('[') != std::string::npos) {
      std::vector<std::string> x = absl::StrSplit(*a, ' '), y = absl::StrSplit(*b, ' ');
      if (x.size() == 7 && y.size() == 7 && x[0] == y[0]) {
        std::string what = absl::StrCat(key, " ", x[0], ":");
        for (size_t i = 1; i + 1 < x.size(); i += 2)
          if (x[i + 1] != y[i + 1])
            absl::StrAppend(&what, what.back() == ':' ? " " : ", ", x[i], " ", x[i + 1], " -> ",
                            y[i + 1]);
        items.push_back(std::move(what));
        return;
      }
    }
    items.push_back(absl::StrCat(key, ": ", a ? *a : "(none)", " -> ", b ? *b : "(none)"));
  };
  for (const auto& [k, v] : before) {
    auto it = after.find(k);
    if (it == after.end()) {
      describe(k, &v, nullptr);
    } else if (it->second != v) {
      describe(k, &v, &it->second);
    }
  }
  for (const auto& [k, v] : after)
    if (!before.count(k)) describe(k, nullptr, &v);
  std::string out;
  const int n = static_cast<int>(items.size());
  for (int i = 0; i < n && i < max_items; ++i) absl::StrAppend(&out, i ? "; " : "", items[i]);
  if (n > max_items) absl::StrAppend(&out, "; ... and ", n - max_items, " more");
  return out;
}

}  // namespace ecps

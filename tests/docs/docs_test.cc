// Documentation drift checks (docs/methods.md, "How to read this page"):
//   - docs/architecture.md's "Implemented methods" table lists exactly the
//     registered methods, and its "Designed methods" table none of them;
//   - docs/methods.md has one `### 2.N` section per registered method (the
//     config name in backticks in the heading) and names every declared
//     parameter of the method in backticks in that section;
//   - every "docs/methods.md §N.M" citation in the repository names a section
//     that exists, and the registry's descriptions cite their own section;
//   - no file of the repository cites the spec the code was first written
//     from, which lives outside the repository.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "compressors/registry.h"

namespace ecps {
namespace {

namespace fs = std::filesystem;

const fs::path& SourceDir() {
  static const fs::path dir(ECPS_SOURCE_DIR);
  return dir;
}

std::string ReadText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// A markdown heading: its level (number of '#') and its text; lines inside
// ``` fences are not headings.
struct Heading {
  size_t line = 0;
  int level = 0;
  std::string text;
};

std::vector<Heading> Headings(const std::vector<std::string>& lines) {
  std::vector<Heading> out;
  bool fenced = false;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& l = lines[i];
    if (l.rfind("```", 0) == 0) {
      fenced = !fenced;
      continue;
    }
    if (fenced || l.empty() || l[0] != '#') continue;
    const size_t level = l.find_first_not_of('#');
    if (level == std::string::npos || l[level] != ' ') continue;
    out.push_back({i, static_cast<int>(level), l.substr(level + 1)});
  }
  return out;
}

// The words written in backticks in `text`.
std::vector<std::string> Backticked(std::string_view text) {
  std::vector<std::string> out;
  for (size_t open = text.find('`'); open != std::string_view::npos;) {
    const size_t close = text.find('`', open + 1);
    if (close == std::string_view::npos) break;
    out.emplace_back(text.substr(open + 1, close - open - 1));
    open = text.find('`', close + 1);
  }
  return out;
}

std::set<std::string> RegisteredNames() {
  std::set<std::string> names;
  for (const CompressorInfo& info : CompressorRegistry()) names.insert(info.name);
  return names;
}

std::string Join(const std::set<std::string>& s) {
  std::string out;
  for (const std::string& x : s) out += (out.empty() ? "" : ", ") + x;
  return out;
}

// The section number a heading starts with ("2.19b" of "### 2.19b MixedPrec
// (`mixedprec`)", "4" of "## 4. Code vs paper"), or "" if none.
std::string HeadingNumber(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.' ||
                             std::isalpha(static_cast<unsigned char>(text[i]))))
    ++i;
  std::string number = text.substr(0, i);
  if (number.empty() || !std::isdigit(static_cast<unsigned char>(number[0]))) return "";
  if (i < text.size() && text[i] != ' ') return "";
  while (!number.empty() && number.back() == '.') number.pop_back();
  return number;
}

// docs/methods.md, parsed.
struct MethodsPage {
  std::vector<std::string> lines;
  std::vector<Heading> headings;
  // Config name -> the text of its §2 section; names seen more than once.
  std::map<std::string, std::string> sections;
  std::map<std::string, std::string> section_number;
  std::vector<std::string> duplicates;
  // Section numbers that exist: headings, and the "- §2.7 ..." entries of
  // the designed methods' list.
  std::set<std::string> numbers;
};

const MethodsPage& Methods() {
  static const MethodsPage* page = [] {
    auto* p = new MethodsPage;
    p->lines = Lines(ReadText(SourceDir() / "docs" / "methods.md"));
    p->headings = Headings(p->lines);
    for (size_t h = 0; h < p->headings.size(); ++h) {
      const Heading& head = p->headings[h];
      const std::string number = HeadingNumber(head.text);
      if (!number.empty() && head.level <= 3) p->numbers.insert(number);
      if (head.level != 3 || number.rfind("2.", 0) != 0) continue;
      size_t end = p->lines.size();
      for (size_t k = h + 1; k < p->headings.size(); ++k)
        if (p->headings[k].level <= 3) {
          end = p->headings[k].line;
          break;
        }
      std::string body;
      for (size_t i = head.line; i < end; ++i) body += p->lines[i] + "\n";
      for (const std::string& name : Backticked(head.text)) {
        if (p->sections.count(name)) p->duplicates.push_back(name);
        p->sections[name] = body;
        p->section_number[name] = number;
      }
    }
    for (const std::string& l : p->lines) {
      static const std::string kItem = "- §";
      if (l.rfind(kItem, 0) != 0) continue;
      const std::string number = HeadingNumber(l.substr(kItem.size()));
      if (!number.empty()) p->numbers.insert(number);
    }
    return p;
  }();
  return *page;
}

// The first column's backticked names of the first table after the heading
// whose text contains `title`, in docs/architecture.md. found = false if there
// is no such heading.
std::vector<std::string> ArchitectureTableNames(const std::string& title, bool* found) {
  const std::vector<std::string> lines = Lines(ReadText(SourceDir() / "docs" / "architecture.md"));
  const std::vector<Heading> headings = Headings(lines);
  *found = false;
  std::vector<std::string> names;
  for (size_t h = 0; h < headings.size(); ++h) {
    if (headings[h].text.find(title) == std::string::npos) continue;
    *found = true;
    const size_t end = h + 1 < headings.size() ? headings[h + 1].line : lines.size();
    size_t i = headings[h].line + 1;
    while (i < end && lines[i].rfind("|", 0) != 0) ++i;
    // Header row, separator row, then the rows.
    for (i += 2; i < end && lines[i].rfind("|", 0) == 0; ++i) {
      const size_t cell_end = lines[i].find('|', 1);
      for (const std::string& name : Backticked(lines[i].substr(1, cell_end - 1)))
        names.push_back(name);
    }
    break;
  }
  return names;
}

TEST(DocsTest, ArchitectureImplementedTableListsExactlyTheRegistry) {
  bool found = false;
  const std::vector<std::string> listed = ArchitectureTableNames("Implemented methods", &found);
  ASSERT_TRUE(found) << "docs/architecture.md has no \"Implemented methods\" heading";
  const std::set<std::string> table(listed.begin(), listed.end());
  EXPECT_EQ(table.size(), listed.size()) << "a method is listed twice";
  const std::set<std::string> registered = RegisteredNames();
  std::set<std::string> missing, extra;
  std::set_difference(registered.begin(), registered.end(), table.begin(), table.end(),
                      std::inserter(missing, missing.end()));
  std::set_difference(table.begin(), table.end(), registered.begin(), registered.end(),
                      std::inserter(extra, extra.end()));
  EXPECT_TRUE(missing.empty()) << "registered but not in architecture.md's Implemented methods: "
                               << Join(missing);
  EXPECT_TRUE(extra.empty()) << "in architecture.md's Implemented methods but not registered: "
                             << Join(extra);
}

TEST(DocsTest, ArchitectureDesignedTableListsNoRegisteredMethod) {
  bool found = false;
  const std::vector<std::string> listed =
      ArchitectureTableNames("Designed methods (not implemented yet)", &found);
  if (!found) GTEST_SKIP() << "no designed methods table";
  const std::set<std::string> registered = RegisteredNames();
  for (const std::string& name : listed)
    EXPECT_EQ(registered.count(name), 0u)
        << "'" << name << "' is registered: move it to the Implemented methods table";
}

TEST(DocsTest, MethodsPageHasOneSectionPerRegisteredMethod) {
  const MethodsPage& page = Methods();
  ASSERT_FALSE(page.lines.empty()) << "docs/methods.md is missing or empty";
  EXPECT_TRUE(page.duplicates.empty()) << "methods in two `### 2.N` headings: "
                                       << Join({page.duplicates.begin(), page.duplicates.end()});
  const std::set<std::string> registered = RegisteredNames();
  for (const std::string& name : registered)
    EXPECT_EQ(page.sections.count(name), 1u)
        << "docs/methods.md has no `### 2.N` heading naming `" << name << "` in backticks";
  for (const auto& [name, body] : page.sections)
    EXPECT_EQ(registered.count(name), 1u)
        << "docs/methods.md's §" << page.section_number.at(name) << " heading names `" << name
        << "`, which is not a registered method";
}

TEST(DocsTest, MethodSectionsNameEveryDeclaredParameter) {
  const MethodsPage& page = Methods();
  for (const CompressorInfo& info : CompressorRegistry()) {
    auto it = page.sections.find(info.name);
    if (it == page.sections.end()) continue;  // reported by the test above
    for (const ParamSpec& spec : info.schema.specs())
      EXPECT_NE(it->second.find("`" + spec.key + "`"), std::string::npos)
          << "docs/methods.md §" << page.section_number.at(info.name) << " (" << info.name
          << ") does not name its parameter `" << spec.key << "`";
  }
}

// The section a "docs/methods.md" citation at text[pos] names ("2.16" of
// "docs/methods.md §2.16", "2.3.5" of "(docs/methods.md §2.3.5)", "2.1" of
// "(docs/methods.md 2.1)"), or "" if no number follows.
std::string CitedSection(const std::string& text, size_t pos) {
  static const std::string kSection = "§";
  size_t i = pos;
  while (i < text.size() && text[i] == ' ') ++i;
  if (text.compare(i, kSection.size(), kSection) == 0) i += kSection.size();
  const size_t start = i;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) ||
                             (text[i] == '.' && i + 1 < text.size() &&
                              std::isdigit(static_cast<unsigned char>(text[i + 1]))) ||
                             (i > start && std::islower(static_cast<unsigned char>(text[i])) &&
                              std::isdigit(static_cast<unsigned char>(text[i - 1])))))
    ++i;
  return text.substr(start, i - start);
}

// Whether `number` (a section, or a sub-item) resolves to a section of
// docs/methods.md. A sub-item is resolved to its section: 2.3.5 (item 5 of
// §2.3) to 2.3, and 4.5 (item 5 of §4, which has no subsections) to 4; but
// 2.99 does not resolve to 2, which has subsections.
bool Resolves(const std::string& number, const std::set<std::string>& sections) {
  std::string n = number;
  while (!n.empty()) {
    if (sections.count(n)) return true;
    const size_t dot = n.rfind('.');
    if (dot == std::string::npos) return false;
    const std::string parent = n.substr(0, dot);
    if (parent.find('.') == std::string::npos) {
      // n is "major.minor": an item only if major has no subsections.
      for (const std::string& s : sections)
        if (s.rfind(parent + ".", 0) == 0) return false;
    }
    n = parent;
  }
  return false;
}

// Every text file of the repository that the checks read: code, build files,
// scripts, configs and documentation; build trees, run outputs and hidden
// folders are skipped.
std::vector<fs::path> RepositoryFiles() {
  static const std::set<std::string> kExtensions = {".h",     ".cc", ".cu",   ".cuh", ".sh",
                                                    ".cmake", ".md", ".yaml", ".yml", ".txt",
                                                    ".py",    ".in", ".json", ".gp"};
  std::vector<fs::path> files;
  const fs::path& root = SourceDir();
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
       ++it) {
    const fs::path& p = it->path();
    const std::string name = p.filename().string();
    if (it->is_directory()) {
      const bool top = p.parent_path() == root;
      if (name.rfind(".", 0) == 0 ||
          (top &&
           (name.rfind("build", 0) == 0 || name == "out" || name == "runs" || name == "data")) ||
          fs::exists(p / "CMakeCache.txt"))
        it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file() && kExtensions.count(p.extension().string())) files.push_back(p);
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST(DocsTest, EveryMethodsCitationNamesAnExistingSection) {
  const MethodsPage& page = Methods();
  ASSERT_FALSE(page.numbers.empty());
  static const std::string kPage = "methods.md";
  int checked = 0;
  for (const fs::path& file : RepositoryFiles()) {
    const std::vector<std::string> lines = Lines(ReadText(file));
    for (size_t l = 0; l < lines.size(); ++l) {
      for (size_t at = lines[l].find(kPage); at != std::string::npos;
           at = lines[l].find(kPage, at + 1)) {
        const std::string number = CitedSection(lines[l], at + kPage.size());
        if (number.empty()) continue;
        ++checked;
        EXPECT_TRUE(Resolves(number, page.numbers))
            << fs::relative(file, SourceDir()).string() << ":" << l + 1 << " cites methods.md §"
            << number << ", which docs/methods.md does not have";
      }
    }
  }
  EXPECT_GT(checked, 0) << "no methods.md citation found: is ECPS_SOURCE_DIR right?";
}

TEST(DocsTest, RegistryDescriptionsCiteTheirOwnSection) {
  const MethodsPage& page = Methods();
  for (const CompressorInfo& info : CompressorRegistry()) {
    const size_t at = info.description.find("methods.md");
    if (at == std::string::npos) continue;
    const std::string cited = CitedSection(info.description, at + 10);
    auto it = page.section_number.find(info.name);
    if (cited.empty() || it == page.section_number.end()) continue;
    EXPECT_EQ(cited, it->second) << info.name << "'s registry description cites methods.md §"
                                 << cited << " but its section is §" << it->second;
  }
}

// The spec the methods were first written from is not part of the
// repository; nothing in it may point there (docs/methods.md replaces it).
// The needles are assembled so that this file does not contain them.
TEST(DocsTest, NoFileCitesTheSpecOutsideTheRepository) {
  const std::vector<std::string> needles = {std::string("shared") + "/methods.md",
                                            std::string("/work") + "/shared"};
  const std::vector<fs::path> files = RepositoryFiles();
  ASSERT_FALSE(files.empty());
  for (const fs::path& file : files) {
    const std::vector<std::string> lines = Lines(ReadText(file));
    for (size_t l = 0; l < lines.size(); ++l)
      for (const std::string& needle : needles)
        EXPECT_EQ(lines[l].find(needle), std::string::npos)
            << fs::relative(file, SourceDir()).string() << ":" << l + 1 << " mentions '" << needle
            << "': cite docs/methods.md instead";
  }
}

}  // namespace
}  // namespace ecps

#include "formats/disk.h"

namespace casulo::formats {

Status CopyExtents(ExtentReader& in, ExtentWriter& out) {
  for (;;) {
    ASSIGN_OR_RETURN(std::optional<Extent> e, in.Next());
    if (!e) break;
    RETURN_IF_ERROR(out.Write(*e));
  }
  return out.Finish();
}

}  // namespace casulo::formats

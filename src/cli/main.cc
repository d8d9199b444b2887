#include "cli/app.h"

int main(int argc, char** argv) { return casulo::cli::Main(argc, argv); }

"""Reproducing Vincent et al. (2010): Table 3, the other tables and figures, the filter figures.

  sdae.reproduce.paper         Table 3 as printed, verdicts, differences
  sdae.reproduce.table         Table 3 reproduced: every method's grid, selection, rows
  sdae.reproduce.table_report  table.md and table.png
  sdae.reproduce.svm           SVMs (RBF: libsvm, fast exact predictions; linear: liblinear),
                               the selection protocol
  sdae.reproduce.experiments   Tables 4-5 and Figures 10-11 on the table's driver, one module each
  sdae.reproduce.filters       the filter figures: conditions trained as members, filters.npz/.png
  sdae.reproduce.gabor         filter shape measures: Gabor fit, spectrum orientation, locality
"""

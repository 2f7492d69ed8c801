mod cli;
mod columnar;
mod corpus;
mod generate;
mod props;
